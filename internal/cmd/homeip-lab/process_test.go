package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/internal/netlab/labtest"
	"github.com/homeip/homeip/internal/streamprobe"
)

func parseReport(t *testing.T, who, out string) streamprobe.Report {
	t.Helper()
	i := strings.Index(out, "{")
	var r streamprobe.Report
	if i < 0 {
		t.Fatalf("%s printed no report:\n%s", who, out)
	}
	if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(&r); err != nil {
		t.Fatalf("%s report: %v\n%s", who, err, out)
	}
	return r
}

// TestStreamProcessesInLab runs the stream subcommand as real processes in
// cn and mn (as the end-to-end tests will), over TCP and over UDP with the
// receiver behind the Wi-Fi NAT saying hello to a listening sender.
func TestStreamProcessesInLab(t *testing.T) {
	t.Parallel()
	bin := buildTool(t)
	lab := labtest.New(t)
	for i, udp := range []bool{false, true} {
		name := map[bool]string{false: "tcp", true: "udp"}[udp]
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			addr := netip.AddrPortFrom(netlab.CN4, uint16(7000+i)).String()
			common := []string{"-progress", "0", "-idle", "5s"}
			if udp {
				common = append(common, "-udp")
			}
			sender, err := lab.Start(ctx, lab.CN, bin, append([]string{"stream", "-role", "send", "-listen", addr,
				"-interval", "1ms", "-duration", "500ms"}, common...)...)
			if err != nil {
				t.Fatal(err)
			}
			receiver, err := lab.Start(ctx, lab.MN, bin, append([]string{"stream", "-role", "recv", "-connect", addr}, common...)...)
			if err != nil {
				t.Fatal(err)
			}
			rerr := receiver.Wait(ctx)
			serr := sender.Wait(ctx)
			if rerr != nil || serr != nil {
				t.Fatalf("receiver: %v\n%s\nsender: %v\n%s", rerr, receiver.Output(), serr, sender.Output())
			}
			s := parseReport(t, "sender", sender.Output())
			r := parseReport(t, "receiver", receiver.Output())
			if !r.Verified || r.Records != s.Records || r.Records < 100 {
				t.Fatalf("stream through the NAT not intact: sent %d, received %d, verified %v", s.Records, r.Records, r.Verified)
			}
			if want := fmt.Sprint(netlab.WifiPublic4); !strings.HasPrefix(s.Remote, want+":") {
				t.Errorf("cn sent to %s, want mn's NAT address %s", s.Remote, want)
			}
		})
	}
}
