package binding

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestGoldenFrames pins the wire layout documented in the package doc:
// a change here is a protocol change.
func TestGoldenFrames(t *testing.T) {
	cases := []struct {
		name string
		m    Message
		hex  string // spaces separate fields
	}{
		{
			name: "BindingUpdate",
			m: &BindingUpdate{Sequence: 7, Flags: FlagAck | FlagHome, Lifetime: 300 * time.Second, Via: 1, Entries: []CareOf{
				{BID: 1, Kind: KindWiFi, Priority: 10, Local: netip.MustParseAddrPort("192.168.1.20:51830")},
			}},
			// header | seq | flags | lifetime | via | count | bid kind prio flags fam addr port
			hex: "01 03 0016 | 0007 | 03 | 0000012c | 0001 | 01 | 0001 02 0a 00 04 c0a80114 ca76",
		},
		{
			name: "BindingUpdate with a path MTU",
			m: &BindingUpdate{Sequence: 7, Flags: FlagAck | FlagHome, Lifetime: 300 * time.Second, Via: 1, Entries: []CareOf{
				{BID: 1, Kind: KindWiFi, Priority: 10, Local: netip.MustParseAddrPort("192.168.1.20:51830")},
			}, PathMTU: 1220},
			// header | seq | flags | lifetime | via | count | entry | path MTU
			hex: "01 03 0018 | 0007 | 03 | 0000012c | 0001 | 01 | 0001 02 0a 00 04 c0a80114 ca76 | 04c4",
		},
		{
			name: "BindingAck",
			m: &BindingAck{Status: StatusLifetimeShortened, Sequence: 8, Lifetime: time.Hour,
				Observed: netip.MustParseAddrPort("[2001:db8::1]:4500"),
				Entries:  []EntryStatus{{BID: 2, Status: StatusAccepted, Flags: EntryPrimary | EntryObserved}}},
			// header | status | seq | lifetime | fam addr port | count | bid status flags
			hex: "01 04 001f | 01 | 0008 | 00000e10 | 06 20010db8000000000000000000000001 1194 | 01 | 0002 00 03",
		},
		{
			name: "Deregister",
			m:    &Deregister{Status: StatusRevoked, Reason: "bye"},
			hex:  "01 05 0005 | 83 | 03 627965",
		},
		{
			name: "Heartbeat",
			m:    &Heartbeat{Nonce: 1, Time: -1},
			hex:  "01 09 0010 | 0000000000000001 | ffffffffffffffff",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, err := hex.DecodeString(strings.NewReplacer(" ", "", "|", "").Replace(c.hex))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Marshal(c.m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("frame\n got % x\nwant % x", got, want)
			}
		})
	}
}
