package bindingtest

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/homeip/homeip/binding"
)

// device is the test's side of the pipe.
type device struct {
	t *testing.T
	c net.Conn
	r *binding.Reader
}

func (d *device) roundTrip(m binding.Message) binding.Message {
	d.t.Helper()
	if err := binding.WriteMessage(d.c, m); err != nil {
		d.t.Fatal(err)
	}
	return d.read()
}

func (d *device) read() binding.Message {
	d.t.Helper()
	resp, err := d.r.ReadMessage()
	if err != nil {
		d.t.Fatal(err)
	}
	return resp
}

func TestHomeAgentConversation(t *testing.T) {
	secret := [binding.SecretSize]byte{1, 2, 3}
	var events []binding.Event
	ha := &HomeAgent{
		Device:      "alice",
		Secret:      &secret,
		EnrollAck:   binding.EnrollAck{DeviceID: "d-1", DeviceName: "alice"},
		RegisterAck: binding.RegisterAck{VIP4: netip.MustParseAddr("10.77.0.2"), Lifetime: time.Hour},
		Cache:       binding.NewCache(binding.Config{OnEvent: func(e binding.Event) { events = append(events, e) }}),
	}
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ha.Serve(ctx, b) }()
	dev := &device{t: t, c: a, r: binding.NewReader(a, 0)}

	if ack := dev.roundTrip(&binding.Enroll{Token: secret}).(*binding.EnrollAck); ack.Status != binding.StatusAccepted || ack.DeviceID != "d-1" {
		t.Fatalf("enroll ack %+v", ack)
	}
	if ack := dev.roundTrip(&binding.Enroll{Token: secret}).(*binding.EnrollAck); !errors.Is(ack.Err(), binding.ErrBadToken) {
		t.Fatalf("second enroll %+v", ack)
	}
	if ack := dev.roundTrip(&binding.Register{DeviceID: "d-1"}).(*binding.RegisterAck); ack.VIP4 != netip.MustParseAddr("10.77.0.2") || ack.Err() != nil {
		t.Fatalf("register ack %+v", ack)
	}
	bu := &binding.BindingUpdate{Sequence: 1, Flags: binding.FlagAck | binding.FlagHome, Lifetime: time.Minute, Via: 1,
		Entries: []binding.CareOf{{BID: 1, Kind: binding.KindWiFi}}}
	ack := dev.roundTrip(bu).(*binding.BindingAck)
	if ack.Err() != nil || ack.Observed != netip.MustParseAddrPort("192.0.2.1:51830") {
		t.Fatalf("binding ack %+v", ack)
	}
	if len(events) != 1 || events[0].Kind != binding.EventAdded {
		t.Fatalf("events %+v", events)
	}
	if ack := dev.roundTrip(bu).(*binding.BindingAck); !errors.Is(ack.Err(), binding.ErrStaleSequence) || ack.Sequence != 1 {
		t.Fatalf("replayed update ack %+v", ack)
	}
	if hb := dev.roundTrip(&binding.Heartbeat{Nonce: 7, Time: 8}).(*binding.HeartbeatAck); hb.Nonce != 7 || hb.Time != 8 {
		t.Fatalf("heartbeat ack %+v", hb)
	}

	sw := &binding.Switch{Addrs: []netip.AddrPort{netip.MustParseAddrPort("198.18.0.9:51830")}, Reason: binding.SwitchMaintenance}
	go ha.Push(sw)
	if got := dev.read().(*binding.Switch); got.Reason != binding.SwitchMaintenance {
		t.Fatalf("switch %+v", got)
	}

	if ack := dev.roundTrip(&binding.Deregister{}).(*binding.BindingAck); ack.Err() != nil {
		t.Fatalf("deregister ack %+v", ack)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if _, ok := ha.Cache.Lookup("alice"); ok {
		t.Fatal("binding left after deregistration")
	}
	if n := len(ha.Received()); n != 7 {
		t.Fatalf("received %d messages", n)
	}
	if err := ha.Push(sw); err == nil {
		t.Fatal("Push after Serve returned succeeded")
	}
}

func TestHomeAgentStopsOnCancel(t *testing.T) {
	ha := &HomeAgent{}
	a, b := net.Pipe()
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ha.Serve(ctx, b) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve = %v", err)
	}
}
