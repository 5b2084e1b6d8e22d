// Command mnode is the homeip mobile node: it enrols the device with a
// home agent, brings the tunnel up with the device's stable virtual
// addresses, and keeps it up while the device moves between networks.
//
//	mnode enroll TOKEN --state-dir DIR
//	mnode up --state-dir DIR [--interface homeip0] [--full-tunnel] [--prefer wired,wifi,cellular] [--listen-port N] [--status-socket PATH]
//	mnode status --state-dir DIR [--json]
//	mnode down --state-dir DIR
//
// `mnode up` runs in the foreground and logs to stderr (systemd-friendly);
// it is ready when `mnode status` answers, and stops cleanly on SIGTERM,
// SIGINT or `mnode down`.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const defaultStateDir = "/var/lib/homeip/mnode"

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: mnode <command> [flags]

commands:
  enroll TOKEN   redeem an enrolment token (from "ha device add NAME")
  up             bring the tunnel up and keep it up (foreground)
  status         show the running node's status
  down           stop the running node

Run "mnode <command> -h" for the flags of a command.
`)
}

func main() {
	// The control connection runs on the data plane's shared socket, which
	// is not a *net.UDPConn; quic-go's buffer-size warning does not apply.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "enroll":
		err = cmdEnroll(args)
	case "up":
		err = cmdUp(args)
	case "status":
		err = cmdStatus(args)
	case "down":
		err = cmdDown(args)
	case "-h", "-help", "--help", "help":
		usage(os.Stdout)
		return
	default:
		fmt.Fprintf(os.Stderr, "mnode: unknown command %q\n", cmd)
		usage(os.Stderr)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(os.Stderr, "mnode:", err)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mnode:", strings.TrimPrefix(err.Error(), "client: "))
		os.Exit(1)
	}
}

// usageError is a command-line mistake (exit status 2).
type usageError struct{ msg string }

// Error implements error.
func (e usageError) Error() string { return e.msg }

// parseArgs parses flags that may come before, between or after the
// positional arguments ("enroll TOKEN --state-dir DIR").
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
