// Command ha is the homeip home agent: `ha serve` runs the daemon, the other
// subcommands administer a running one over its Unix socket.
//
//	ha serve [--config FILE] [--data-dir DIR] [--listen ADDR:PORT] [--admin-socket PATH]
//	         [--interface NAME] [--pool4 PREFIX]... [--pool6 PREFIX]... [--tunnel4 ADDR]
//	         [--tunnel6 ADDR] [--route PREFIX]... [--dns-zone ZONE] [--metrics ADDR]
//	         [--public-addr ADDR]... (and every other setting of deploy/ha.example.toml)
//	ha device add NAME           create a device, print its one-time enrolment token
//	ha device token NAME         another token for an existing device (re-enrolment, keeps its VIPs)
//	ha device token NAME --list  the device's tokens (id, state, created, expires, used)
//	ha device token NAME --cancel  cancel its unredeemed tokens (enrolling or exporting ends them too)
//	ha device list               list devices
//	ha device show NAME          one device
//	ha device revoke NAME        remove its peer, close its connection, refuse it
//	ha device rename NAME NEW    rename it
//	ha device reserve NAME ADDR  pin it to an address
//	ha device unreserve NAME ADDR  remove the pin (it keeps the address as an ordinary lease)
//	ha device delete NAME        remove it for good: cut off, record, keys and tokens gone,
//	                             its addresses quarantined (quarantine setting) and then free
//	ha device export NAME        wg-quick config (and QR code) for stock WireGuard apps
//	ha binding list              bindings: VIPs, care-of addresses, path, age, last handover
//	ha pool show                 pool utilisation
//	ha drain                     switch every device to the drain_to home agent, then stop
//	ha check [--data-dir DIR] [--store FILE]
//	                             check the store (home agent stopped); exit 1 on any problem
//
// Admin subcommands take [--admin-socket PATH] [--json].
//
// `ha serve` logs to stderr and prints one line to stdout at start,
// "fingerprint sha256:...", the certificate fingerprint devices pin (it is
// also inside every enrolment token). It is ready when the admin socket
// accepts connections. SIGTERM or SIGINT shut it down cleanly.
// `ha device add NAME` prints the token alone on stdout (with --json:
// {"device": ..., "token": ..., "expires": ...}).
package main

import (
	"fmt"
	"os"
)

const usage = `usage:
  ha serve [--config FILE] [flags]     run the home agent (ha serve -h for flags)
  ha device add NAME                   create a device and print its enrolment token
  ha device token NAME                 another token for an existing device (keeps its VIPs)
  ha device token NAME --list|--cancel list its tokens, or cancel the unredeemed ones
  ha device list | show NAME | revoke NAME | rename NAME NEW | export NAME
  ha device reserve NAME ADDR | unreserve NAME ADDR
  ha device delete NAME                remove it for good; its addresses are quarantined, then free
  ha binding list
  ha pool show
  ha drain
  ha check [--data-dir DIR] [--store FILE]   check the store (stop the home agent first)
admin commands take [--admin-socket PATH] [--json]
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:])
	case "check":
		return check(args[1:], os.Stdout, os.Stderr)
	case "device", "binding", "pool", "drain":
		return admin(args, os.Stdout, os.Stderr)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "ha: unknown command %q\n%s", args[0], usage)
	return 2
}
