/**
 * install-script — the POSIX sh script served at /agent/install, which a
 * laptop runs as `curl -fsSL http://schoolserver/agent/install | sh`.
 *
 * Templated with four values only, each a single-quoted sh word built by
 * shellWord() from text the routes validated (the server URL from a checked
 * Host header or config, the bundle's version and SHA-256): nothing a client
 * sends reaches the script unescaped. The script itself (the text below has no
 * `${`: every sh expansion is $NAME or $(…)):
 *   1. checks, before touching anything, and says one line per missing thing:
 *      Node ≥ 20, a writable HOME, curl or wget, the server answering its
 *      ping, a serial (firmware or profile, as the agent reads it, or
 *      DSB_SERIAL), the enrollment key when the server wants one and the
 *      laptop is not registered yet; without a usable Node it explains the
 *      2008 path (Sugar's "Register");
 *   2. downloads the bundle to a temp folder, checks its SHA-256 and that it
 *      starts (`node agent --version`), then installs it as
 *      ~/.local/share/ds-backup/agent-<sha[:16]>.mjs, switches current.mjs,
 *      writes install.json and the launcher ~/.local/bin/ds-backup (each only
 *      when different: a second run changes nothing);
 *   3. `ds-backup register --if-needed` (keeps a working registration; prints
 *      the restore code), then `ds-backup install-timer`: a systemd user timer,
 *      or the crontab line, added with `crontab` when there is one.
 * Everything runs inside main(), called on the last line with stdin from
 * /dev/null: a download cut short runs nothing, and no command eats the script.
 */

/** One single-quoted sh word: 'it'\''s'. */
import { API } from '../../../protocol/api.js';

export function shellWord(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface ScriptValues {
  server: string;
  version: string;
  sha256: string;
  enrollRequired: boolean;
}

export function installScript(v: ScriptValues): string {
  return String.raw`#!/bin/sh
# ds-backup: installs the Journal backup agent on this laptop from the school
# server, no internet needed. Served by ds-backup-server at SERVER/agent/install:
#
#   curl -fsSL SERVER/agent/install | sh        (or: wget -qO- SERVER/agent/install | sh)
#
# Environment: DSB_SERIAL=SN      the serial number, on a computer without an XO serial
#              DSB_ENROLL_KEY=KEY the school's enrollment key, when the server requires one
#              DSB_NICKNAME=NAME  the owner's name
# Installs into ~/.local/share/ds-backup/ and ~/.local/bin/ds-backup (no root
# needed), registers this laptop, installs the timer and prints the restore
# code. Run it again to upgrade (the registration is kept); undo it with:
# ds-backup uninstall [--forget].

SERVER=${shellWord(v.server)}
AGENT_VERSION=${shellWord(v.version)}
AGENT_SHA256=${shellWord(v.sha256)}
ENROLL_REQUIRED=${v.enrollRequired ? '1' : '0'}
NODE_MIN=20

say() { printf 'ds-backup: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
MISSING=
need() { say "$*"; MISSING=1; }

# One single-quoted sh word (the launcher's paths).
sq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

get() { # URL FILE
  if command -v curl >/dev/null 2>&1; then curl -fsS --connect-timeout 15 --max-time 300 -o "$2" "$1"
  else wget -q -T 300 -O "$2" "$1"; fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
  else "$NODE" -e 'const c=require("crypto"),f=require("fs");console.log(c.createHash("sha256").update(f.readFileSync(process.argv[1])).digest("hex"))' "$1"
  fi
}

old_laptop_help() {
  say "This laptop cannot run the native agent. It can still back up the 2008 way, if the"
  say "school server accepts Sugar's registration (ds-backup-server serve --legacy-registration-port 8080):"
  say "in Sugar's home view, hover over the XO icon in the middle and choose \"Register\"; from then on"
  say "the laptop's own backup client sends the Journal to the school server once a day. See $SERVER/agent/"
}

serial_of_laptop() { # as the agent reads it (src/agent/profile.ts detectSerial)
  for f in /proc/device-tree/mfg-data/SN /ofw/mfg-data/SN "$PROFILE/identifiers/sn"; do
    if [ -r "$f" ]; then
      sn=$(tr -d '\000' <"$f" | tr -d ' \t\r\n')
      if [ -n "$sn" ]; then printf '%s' "$sn"; return 0; fi
    fi
  done
  return 1
}

check() {
  NODE=$(command -v node 2>/dev/null)
  NATIVE=1
  if [ -z "$NODE" ]; then
    need "Node.js $NODE_MIN or newer is needed and there is no node command: install it (e.g. sudo apt install nodejs, sudo dnf install nodejs), then run this line again"
    NATIVE=
  else
    major=$("$NODE" -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null)
    case $major in '' | *[!0-9]*) major=0 ;; esac
    if [ "$major" -lt "$NODE_MIN" ]; then
      need "Node.js $NODE_MIN or newer is needed, this laptop has $("$NODE" --version 2>/dev/null): upgrade it, then run this line again"
      NATIVE=
    fi
  fi
  if [ -z "$HOME" ] || [ ! -d "$HOME" ] || [ ! -w "$HOME" ]; then
    need "the home folder ($HOME) must exist and be writable: run this line as the laptop's user"
  fi
  SUGAR_DIR=$SUGAR_HOME
  [ -n "$SUGAR_DIR" ] || SUGAR_DIR=$HOME/.sugar
  PROFILE=$SUGAR_DIR/$SUGAR_PROFILE
  [ -n "$SUGAR_PROFILE" ] || PROFILE=$SUGAR_DIR/default
  if ! command -v curl >/dev/null 2>&1 && ! command -v wget >/dev/null 2>&1; then
    need "curl or wget is needed to download the agent: install one (e.g. sudo apt install curl)"
  elif ! get "$SERVER${API.ping.url}" /dev/stdout 2>/dev/null | grep -q ds-backup-server; then
    need "the school server $SERVER does not answer: check that this laptop is on the school network, then run this line again"
  fi
  if [ -n "$DSB_SERIAL" ]; then
    case $DSB_SERIAL in *[!A-Za-z0-9]*) bad=1 ;; *) bad= ;; esac
    n=$(printf '%s' "$DSB_SERIAL" | wc -c)
    if [ -n "$bad" ] || [ "$n" -lt 3 ] || [ "$n" -gt 32 ]; then
      need "DSB_SERIAL=$DSB_SERIAL is not a serial number: 3 to 32 letters and digits"
    fi
  elif ! serial_of_laptop >/dev/null; then
    need "this computer has no XO serial number: give it one, e.g. curl -fsSL $SERVER/agent/install | DSB_SERIAL=ABC1234 sh"
  fi
  if [ "$ENROLL_REQUIRED" = 1 ] && [ -z "$DSB_ENROLL_KEY" ] && [ ! -f "$PROFILE/ds-backup/config.json" ]; then
    need "this school server registers new laptops only with the school's enrollment key: ask the school's IT person, then run: curl -fsSL $SERVER/agent/install | DSB_ENROLL_KEY=KEY sh"
  fi
  if [ -n "$MISSING" ]; then
    [ -n "$NATIVE" ] || old_laptop_help
    die "nothing was installed"
  fi
}

# Replaces FILE with the text on stdin unless it is already that; says which.
put() { # FILE MODE WHAT
  cat >"$TMP/put"
  if [ -f "$1" ] && cmp -s "$TMP/put" "$1"; then say "$3: unchanged"; return 0; fi
  cp "$TMP/put" "$1.new.$$" && chmod "$2" "$1.new.$$" && mv -f "$1.new.$$" "$1" || die "cannot write $1"
  say "$3: written ($1)"
}

install_agent() {
  DATA_DIR=$XDG_DATA_HOME
  [ -n "$DATA_DIR" ] || DATA_DIR=$HOME/.local/share
  DIR=$DATA_DIR/ds-backup
  BIN_DIR=$HOME/.local/bin
  LAUNCHER=$BIN_DIR/ds-backup
  NAME=agent-$(printf '%s' "$AGENT_SHA256" | cut -c1-16).mjs
  if [ -f "$DIR/$NAME" ] && [ "$(sha256_of "$DIR/$NAME")" = "$AGENT_SHA256" ]; then
    say "agent $AGENT_VERSION: already here ($DIR/$NAME)"
    FRESH=
  else
    get "$SERVER/agent/ds-backup.mjs" "$TMP/agent.mjs" || die "could not download $SERVER/agent/ds-backup.mjs: nothing was installed; run this line again"
    got=$(sha256_of "$TMP/agent.mjs")
    if [ "$got" != "$AGENT_SHA256" ]; then
      die "the agent downloaded from $SERVER has SHA-256 $got, not $AGENT_SHA256 as the server published: refused, nothing was installed. Run this line again; if it fails again, tell the school's IT person"
    fi
    started=$("$NODE" "$TMP/agent.mjs" --version 2>&1)
    [ "$started" = "$AGENT_VERSION" ] || die "the downloaded agent does not start on this laptop ($started): nothing was installed"
    FRESH=1
  fi
  mkdir -p "$DIR" "$BIN_DIR" || die "cannot make $DIR and $BIN_DIR"
  if [ -n "$FRESH" ]; then
    cp "$TMP/agent.mjs" "$DIR/.new.$$" && mv -f "$DIR/.new.$$" "$DIR/$NAME" || die "cannot write $DIR/$NAME"
    say "agent $AGENT_VERSION: installed ($DIR/$NAME)"
  fi
  PREVIOUS=$(readlink "$DIR/current.mjs" 2>/dev/null)
  if [ "$PREVIOUS" != "$NAME" ]; then
    ln -s "$NAME" "$DIR/.current.$$" && mv -f "$DIR/.current.$$" "$DIR/current.mjs" || die "cannot switch $DIR/current.mjs"
  fi
  for f in "$DIR"/agent-*.mjs; do # keep the new agent and the one before it
    case $f in "$DIR/$NAME" | "$DIR/$PREVIOUS") ;; *) rm -f "$f" ;; esac
  done
  "$NODE" -e 'console.log(JSON.stringify({server: process.argv[1], launcher: process.argv[2], node: process.argv[3]}))' \
    "$SERVER" "$LAUNCHER" "$NODE" | put "$DIR/install.json" 644 "install record"
  {
    printf '%s\n' '#!/bin/sh' '# ds-backup launcher, written by the school server install script'
    printf '%s\n' "# (the agent: $DIR/current.mjs; ds-backup uninstall removes both)"
    printf '%s\n' "NODE=$(sq "$NODE")" '[ -x "$NODE" ] || NODE=node'
    printf '%s\n' "exec \"\$NODE\" --max-semi-space-size=1 $(sq "$DIR/current.mjs") \"\$@\""
  } | put "$LAUNCHER" 755 "command ds-backup"
  case ":$PATH:" in
    *":$BIN_DIR:"*) ;;
    *) say "note: $BIN_DIR is not on PATH yet (most systems add it at the next login); until then run $LAUNCHER, or add it: echo 'PATH=\"\$HOME/.local/bin:\$PATH\"' >>~/.profile" ;;
  esac
}

register() {
  set -- register --server "$SERVER" --if-needed
  [ -z "$DSB_SERIAL" ] || set -- "$@" --serial "$DSB_SERIAL"
  [ -z "$DSB_NICKNAME" ] || set -- "$@" --nickname "$DSB_NICKNAME"
  "$LAUNCHER" "$@" || die "the agent is installed but this laptop is not registered (see above); run this line again once that is fixed"
}

install_timer() {
  line=$("$LAUNCHER" install-timer 2>"$TMP/timer.log") || { cat "$TMP/timer.log" >&2; die "could not install the timer"; }
  if [ -z "$line" ]; then
    say "timer: systemd user timer ds-backup.timer (tries every 15 minutes, backs up once a day)"
  elif command -v crontab >/dev/null 2>&1; then
    old=$(crontab -l 2>/dev/null)
    if printf '%s\n' "$old" | grep -qxF -- "$line"; then
      say "timer: crontab line unchanged"
    else
      {
        [ -z "$old" ] || printf '%s\n' "$old" | grep -vF -- "$LAUNCHER run"
        printf '%s\n' "$line"
      } | crontab - || die "could not add the timer to the crontab; add this line with crontab -e: $line"
      say "timer: added to the crontab (tries every 15 minutes, backs up once a day)"
    fi
  else
    say "timer: this laptop has neither a systemd user session nor cron, so backups will not start on their own."
    say "  Have this run every 15 minutes (or run ds-backup run now and then): $line"
  fi
}

main() {
  check
  TMP=$(mktemp -d 2>/dev/null) || die "cannot make a temporary folder"
  trap 'rm -rf "$TMP"' EXIT
  trap 'exit 1' INT TERM
  install_agent
  register
  install_timer
  say "done: this laptop backs up its Journal to $SERVER once a day (status: ds-backup status; undo: ds-backup uninstall)"
}

main "$@" </dev/null
`;
}
