package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/homeip/homeip/homeagent/adminapi"
	"github.com/homeip/homeip/homeagent/config"
)

// admin runs an admin subcommand against the daemon's socket, printing to
// out and errOut.
func admin(args []string, out, errOut io.Writer) int {
	cmd := args[0]
	rest := args[1:]
	if cmd == "device" || cmd == "binding" || cmd == "pool" {
		if len(rest) == 0 {
			fmt.Fprintf(errOut, "ha %s: missing subcommand\n%s", cmd, usage)
			return 2
		}
		cmd += " " + rest[0]
		rest = rest[1:]
	}
	fs := flag.NewFlagSet("ha "+cmd, flag.ContinueOnError)
	fs.SetOutput(errOut)
	sock := fs.String("admin-socket", defaultSocket(), "admin socket of the running home agent")
	asJSON := fs.Bool("json", false, "print JSON")
	qr := fs.Bool("qr", isTerminal(os.Stdout), "export: also print a QR code")
	list := fs.Bool("list", false, "token: list the device's enrolment tokens instead of issuing one")
	cancel := fs.Bool("cancel", false, "token: cancel the device's unredeemed enrolment tokens instead of issuing one")
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		return 2
	}
	if (*list || *cancel) && cmd != "device token" {
		fmt.Fprintf(errOut, "ha %s: --list and --cancel belong to ha device token\n", cmd)
		return 2
	}
	if *list && *cancel {
		fmt.Fprintln(errOut, "ha device token: --list or --cancel, not both")
		return 2
	}
	want := map[string]int{"device add": 1, "device token": 1, "device list": 0, "device show": 1, "device revoke": 1, "device rename": 2,
		"device reserve": 2, "device unreserve": 2, "device delete": 1, "device export": 1, "binding list": 0, "pool show": 0, "drain": 0}
	n, ok := want[cmd]
	if !ok {
		fmt.Fprintf(errOut, "ha: unknown command %q\n%s", cmd, usage)
		return 2
	}
	if len(pos) != n {
		fmt.Fprintf(errOut, "ha %s: want %d argument(s), got %d\n", cmd, n, len(pos))
		return 2
	}
	c := adminapi.NewClient(*sock)
	var v any
	switch cmd {
	case "device add":
		var r adminapi.AddDeviceResult
		r, err = c.AddDevice(pos[0])
		if err == nil && r.Warning != "" {
			fmt.Fprintln(errOut, "ha: warning:", r.Warning)
		}
		if err == nil && !*asJSON {
			fmt.Fprintln(out, r.Token)
			return 0
		}
		v = r
	case "device token":
		switch {
		case *list:
			var ts []adminapi.TokenInfo
			ts, err = c.Tokens(pos[0])
			if err == nil && !*asJSON {
				printTokens(out, ts)
				return 0
			}
			v = ts
		case *cancel:
			var r adminapi.CancelTokensResult
			r, err = c.CancelTokens(pos[0])
			if err == nil && !*asJSON {
				fmt.Fprintf(out, "%d token(s) cancelled\n", r.Cancelled)
				return 0
			}
			v = r
		default:
			var r adminapi.AddDeviceResult
			r, err = c.NewToken(pos[0])
			if err == nil && r.Warning != "" {
				fmt.Fprintln(errOut, "ha: warning:", r.Warning)
			}
			if err == nil && !*asJSON {
				fmt.Fprintln(out, r.Token)
				return 0
			}
			v = r
		}
	case "device list":
		var ds []adminapi.Device
		ds, err = c.Devices()
		if err == nil && !*asJSON {
			printDevices(out, ds)
			return 0
		}
		v = ds
	case "device delete":
		var r adminapi.DeleteResult
		r, err = c.DeleteDevice(pos[0])
		if err == nil && !*asJSON {
			fmt.Fprintf(out, "device %s deleted", r.Device.Name)
			if len(r.Quarantined) > 0 {
				fmt.Fprintf(out, "; addresses %v quarantined until %s", r.Quarantined, r.Until.Local().Format(time.DateTime))
			}
			fmt.Fprintln(out)
			return 0
		}
		v = r
	case "device show", "device revoke", "device rename", "device reserve", "device unreserve":
		var d adminapi.Device
		switch cmd {
		case "device show":
			d, err = c.Device(pos[0])
		case "device revoke":
			d, err = c.RevokeDevice(pos[0])
		case "device rename":
			d, err = c.RenameDevice(pos[0], pos[1])
		case "device reserve":
			var a netip.Addr
			a, err = netip.ParseAddr(pos[1])
			if err == nil {
				d, err = c.ReserveAddr(pos[0], a)
			}
		case "device unreserve":
			var a netip.Addr
			a, err = netip.ParseAddr(pos[1])
			if err == nil {
				d, err = c.UnreserveAddr(pos[0], a)
			}
		}
		if err == nil && !*asJSON {
			printDevice(out, d)
			return 0
		}
		v = d
	case "device export":
		var e adminapi.Export
		e, err = c.ExportDevice(pos[0])
		if err == nil && !*asJSON {
			fmt.Fprint(out, e.Config)
			if *qr {
				if code, qerr := qrcode.New(e.Config, qrcode.Low); qerr == nil {
					fmt.Fprint(out, "\n"+code.ToSmallString(false))
				} else {
					fmt.Fprintln(errOut, "ha: QR code:", qerr)
				}
			}
			return 0
		}
		v = e
	case "binding list":
		var bs []adminapi.Binding
		bs, err = c.Bindings()
		if err == nil && !*asJSON {
			printBindings(out, bs)
			return 0
		}
		v = bs
	case "pool show":
		var ps []adminapi.PoolPrefix
		ps, err = c.Pool()
		if err == nil && !*asJSON {
			printPool(out, ps)
			return 0
		}
		v = ps
	case "drain":
		var r adminapi.DrainResult
		r, err = c.Drain()
		if err == nil && !*asJSON {
			if r.Target != "" {
				fmt.Fprintf(out, "%d device(s) switched to %s; home agent stopping\n", r.Switched, r.Target)
			} else {
				fmt.Fprintf(out, "%d device(s) told to leave (no drain_to configured); home agent stopping\n", r.Switched)
			}
			return 0
		}
		v = r
	}
	if err != nil {
		fmt.Fprintln(errOut, "ha:", err)
		return 1
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	enc.Encode(v)
	return 0
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments ("ha device add NAME --json").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
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

func defaultSocket() string {
	if v := os.Getenv(config.EnvName("admin_socket")); v != "" {
		return v
	}
	return config.DefaultAdminSocket
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func orDash(s string) string {
	if s == "" || s == "invalid IP" || s == "invalid AddrPort" {
		return "-"
	}
	return s
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String()
}

func printDevices(w io.Writer, ds []adminapi.Device) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tVIP4\tVIP6\tCONNECTED\tBOUND\tID")
	for _, d := range ds {
		state := d.State
		if d.Static {
			state += " (wg-quick)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%v\t%s\n", d.Name, state, orDash(d.VIP4.String()), orDash(d.VIP6.String()), d.Connected, d.Bound, d.ID)
	}
	tw.Flush()
}

func printDevice(w io.Writer, d adminapi.Device) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var res []string
	for _, a := range d.Reserved {
		res = append(res, a.String())
	}
	rows := [][2]string{{"name", d.Name}, {"id", d.ID}, {"state", d.State}, {"vip4", orDash(d.VIP4.String())},
		{"vip6", orDash(d.VIP6.String())}, {"reserved", orDash(strings.Join(res, ", "))}, {"wireguard key", orDash(d.WGKey)},
		{"created", d.Created.Format(time.RFC3339)}, {"enrolled", orDash(fmtTime(d.Enrolled))}, {"revoked", orDash(fmtTime(d.Revoked))},
		{"connected", fmt.Sprint(d.Connected)}, {"bound", fmt.Sprint(d.Bound)}, {"wg-quick", fmt.Sprint(d.Static)}}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	tw.Flush()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

func printBindings(w io.Writer, bs []adminapi.Binding) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tVIP4\tVIP6\tPRIMARY\tCARE-OF\tPATH MTU\tSEQ\tAGE\tLAST HANDOVER\tEXPIRES IN")
	for _, b := range bs {
		var coa []string
		for _, c := range b.CareOf {
			s := fmt.Sprintf("%d:%s:%s", c.BID, c.Kind, orDash(c.Observed.String()))
			if c.Primary {
				s += "*"
			}
			coa = append(coa, s)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", b.Device, orDash(b.VIP4.String()), orDash(b.VIP6.String()),
			orDash(b.Primary.String()), strings.Join(coa, " "), fmtPathMTU(b), b.Sequence, ago(b.Since), ago(b.LastHandover),
			time.Until(b.Expires).Round(time.Second))
	}
	tw.Flush()
}

func printTokens(w io.Writer, ts []adminapi.TokenInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tCREATED\tEXPIRES\tUSED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.State, fmtTime(t.Created), fmtTime(t.Expires), orDash(fmtTime(t.Used)))
	}
	tw.Flush()
}

// fmtPathMTU shows a binding's path MTU and how it is known: "1400
// (discovered)", "1420 (searching, ≥1300)", "1220 (device)", "1420
// (interface)".
func fmtPathMTU(b adminapi.Binding) string {
	if b.PathMTU == 0 {
		return "-"
	}
	if b.PathMTUState == "searching" && b.PathMTUConfirmed > 0 {
		return fmt.Sprintf("%d (searching, ≥%d)", b.PathMTU, b.PathMTUConfirmed)
	}
	return fmt.Sprintf("%d (%s)", b.PathMTU, orDash(b.PathMTUState))
}

func printPool(w io.Writer, ps []adminapi.PoolPrefix) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PREFIX\tCAPACITY\tLEASED\tRESERVED\tQUARANTINED\tUSED")
	for _, p := range ps {
		used := 0.0
		if p.Capacity > 0 {
			used = 100 * float64(p.Leased+p.Reserved+p.Quarantined) / float64(p.Capacity)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.4f%%\n", p.Prefix, p.Capacity, p.Leased, p.Reserved, p.Quarantined, used)
	}
	tw.Flush()
}
