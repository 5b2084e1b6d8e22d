package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/homeip/homeip/binding"
	"github.com/homeip/homeip/homeagent/adminapi"
	"github.com/homeip/homeip/internal/netlab"
	"github.com/homeip/homeip/tunnel"
)

// loadConfig is one run of the load generator.
type loadConfig struct {
	// HA is the path of the ha executable.
	HA string
	// Devices is how many devices are played.
	Devices int
	// Duration is the measured phase, after every device registered.
	Duration time.Duration
	// Window is how many binding updates a device has in flight at once
	// (each acknowledged).
	Window int
	// Mix: the share (percent) of a device's turns that are a move, a
	// heartbeat or an expiry; the rest are binding-update bursts.
	MovePct, HeartbeatPct, ExpirePct float64
	// RevokePct is the share of devices revoked during the run.
	RevokePct float64
	// Rate, when positive, is the binding updates per second offered by
	// all devices together (each device paces its bursts to its share);
	// zero offers as many as the home agent takes.
	Rate float64
	// Setup is how many devices enrol and register at once.
	Setup int
	// Logger receives progress; nil discards.
	Logger *slog.Logger
}

// Lab addresses of the run: the pools are large enough for thousands of
// devices; no traffic is ever sent to them (only control traffic flows,
// from cn to the home agent's public address).
var (
	loadPool4   = netip.MustParsePrefix("198.19.0.0/16")
	loadTunnel4 = netip.MustParseAddr("198.19.0.1")
	loadPort    = uint16(51830)
	// loadLifetime is the lifetime of the devices' bindings outside the
	// expiry turns.
	loadLifetime = 5 * time.Minute
	// expireLifetime is the lifetime an expiry turn asks for; the device
	// then waits for the home agent's sweep (once a second) to expire it.
	expireLifetime = time.Second
	expireWait     = 2200 * time.Millisecond
)

// loadResult is what a run measured.
type loadResult struct {
	Devices, Connected int
	Elapsed            time.Duration
	// Accepted counts binding updates the home agent accepted during the
	// measured phase, by its own metrics; ClientAcked those the devices
	// saw acknowledged as accepted.
	Accepted, ClientAcked uint64
	// Refused counts the devices' updates refused, by status.
	Refused map[string]uint64
	// BULatency: send to ack of each acknowledged update.
	BULatency []time.Duration
	// MoveLatency: from the new connection's dial to the ack of the
	// update on it.
	MoveLatency                     []time.Duration
	Moves, Heartbeats, Expiries     uint64
	Revoked, RevokeSeen, Reconnects uint64
	Errors                          uint64
	FirstError                      string
	DevicesList, BindingsList       []time.Duration
	// ProcessStart: wall time of the ha program started with no
	// arguments, sampled with the admin commands.
	ProcessStart                      []time.Duration
	RSSBase, RSSLoaded                int64 // bytes
	GoroutinesBase, GoroutinesLoaded  float64
	ThreadsBase, ThreadsLoaded        int
	ConnsLoaded                       float64
	EnrolTime                         time.Duration
	HAExitErr                         error
	BindingsKept, BindingsKeptStarted float64
	// HACPU and GenCPU are the CPU time ha and this generator used in the
	// measured phase (user and system).
	HACPU, GenCPU time.Duration
	// RcvbufDrops counts UDP datagrams the kernel dropped for a full
	// receive buffer in the measured phase, in ha's namespace and in cn's.
	RcvbufDropsHA, RcvbufDropsCN uint64
}

// BUPerSecond is the home agent's accepted binding updates per second.
func (r *loadResult) BUPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Accepted) / r.Elapsed.Seconds()
}

// errRevoked: the device was revoked; it stops.
var errRevoked = errors.New("homeip-lab load: device revoked")

// loadRun is one run's shared state.
type loadRun struct {
	cfg   loadConfig
	lab   *netlab.Lab
	ha    *netlab.Process
	admin *adminapi.Client
	addr  *net.UDPAddr
	log   *slog.Logger

	// Counters the device goroutines add to.
	acked, moves, heartbeats, expiries, revokeSeen, reconnects, errs atomic.Uint64
	errMu                                                            sync.Mutex
	firstErr                                                         string
	refused                                                          sync.Map // status name → *atomic.Uint64
}

// runLoad builds a lab, starts ha in its ha namespace, plays the devices
// from cn and returns what it measured. Everything it started is stopped
// and removed before it returns.
func runLoad(ctx context.Context, cfg loadConfig) (*loadResult, error) {
	if cfg.Devices <= 0 || cfg.Window <= 0 || cfg.Duration <= 0 || cfg.Setup <= 0 {
		return nil, errors.New("homeip-lab load: devices, window, duration and setup must be positive")
	}
	if cfg.MovePct < 0 || cfg.HeartbeatPct < 0 || cfg.ExpirePct < 0 || cfg.MovePct+cfg.HeartbeatPct+cfg.ExpirePct > 100 ||
		cfg.RevokePct < 0 || cfg.RevokePct > 100 {
		return nil, errors.New("homeip-lab load: the mix's shares must be between 0 and 100 and add up to at most 100")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := netlab.Check(); err != nil {
		return nil, fmt.Errorf("homeip-lab load: this machine cannot build the lab: %w", err)
	}
	lab, err := netlab.New(ctx, netlab.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("homeip-lab load: %w", err)
	}
	defer lab.Close()
	dir, err := os.MkdirTemp("", "homeip-load")
	if err != nil {
		return nil, fmt.Errorf("homeip-lab load: %w", err)
	}
	defer os.RemoveAll(dir)

	ep := netip.AddrPortFrom(netlab.HAPublic4, loadPort)
	metricsAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 9109)
	sock := filepath.Join(dir, "admin.sock")
	procCtx, stopProc := context.WithCancel(context.Background())
	defer stopProc()
	ha, err := lab.Start(procCtx, lab.HA, cfg.HA, "serve",
		"--data-dir", filepath.Join(dir, "ha"), "--admin-socket", sock,
		"--listen", ep.String(), "--public-addr", ep.String(),
		"--interface", lab.Prefix[:min(len(lab.Prefix), 13)]+"ha",
		"--pool4", loadPool4.String(), "--tunnel4", loadTunnel4.String(),
		"--pool6", netlab.VIPPool6.String(), "--tunnel6", netlab.HATunnel6.String(),
		"--update-rate", "100000", "--lifetime", loadLifetime.String(),
		"--metrics", metricsAddr.String(), "--log-level", "warn")
	if err != nil {
		return nil, fmt.Errorf("homeip-lab load: starting ha: %w", err)
	}
	r := &loadRun{cfg: cfg, lab: lab, ha: ha, admin: adminapi.NewClient(sock), log: log,
		addr: net.UDPAddrFromAddrPort(ep)}
	res := &loadResult{Devices: cfg.Devices, Refused: map[string]uint64{}}
	defer func() {
		ha.Stop(10 * time.Second)
		res.HAExitErr = ha.Wait(context.Background())
	}()
	if err := r.waitReady(ctx); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, ha.Output())
	}
	scrape := func() map[string]float64 { return r.scrape(ctx, metricsAddr) }
	base := scrape()
	res.GoroutinesBase = base["homeip_ha_goroutines"]
	res.RSSBase, res.ThreadsBase = procStatus(ha.Pid())

	// Setup: enrol and register every device, Setup at a time.
	devs := make([]*loadDevice, cfg.Devices)
	setupStart := time.Now()
	sem := make(chan struct{}, cfg.Setup)
	var setupErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for i := range devs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d, err := r.newDevice(ctx, fmt.Sprintf("load%05d", i))
			if err != nil {
				setupErr.CompareAndSwap(nil, &err)
				return
			}
			devs[i] = d
		}()
	}
	wg.Wait()
	res.EnrolTime = time.Since(setupStart)
	if p := setupErr.Load(); p != nil {
		for _, d := range devs {
			if d != nil {
				d.close()
			}
		}
		return nil, fmt.Errorf("homeip-lab load: enrolling the devices: %w\n%s", *p, lastLines(ha.Output(), 20))
	}
	log.Info("devices registered", "devices", len(devs), "took", res.EnrolTime)

	// Measured phase.
	runCtx, stopRun := context.WithTimeout(ctx, cfg.Duration)
	defer stopRun()
	before := scrape()
	haCPU0, genCPU0 := procCPU(ha.Pid()), selfCPU()
	haDrops0, cnDrops0 := udpRcvbufErrors(ctx, lab.HA), udpRcvbufErrors(ctx, lab.CN)
	start := time.Now()
	var devWG sync.WaitGroup
	for i, d := range devs {
		devWG.Add(1)
		go func() {
			defer devWG.Done()
			r.play(runCtx, d, rand.New(rand.NewPCG(uint64(i), 0x10ad)))
		}()
	}
	// The revoker revokes its share of the devices, spread over the run.
	var ownWG sync.WaitGroup
	nRevoke := int(float64(cfg.Devices) * cfg.RevokePct / 100)
	var revoked atomic.Uint64
	ownWG.Add(2)
	go func() {
		defer ownWG.Done()
		for i := range nRevoke {
			select {
			case <-runCtx.Done():
				return
			case <-time.After(cfg.Duration / time.Duration(nRevoke+1)):
			}
			if _, err := r.admin.RevokeDevice(devs[i*len(devs)/nRevoke].name); err != nil {
				r.fail(fmt.Errorf("revoking: %w", err))
				continue
			}
			revoked.Add(1)
		}
	}()
	// The admin sampler runs `ha device list` and `ha binding list` over
	// the admin socket every 100 ms, as an operator would: the figure is
	// the command's wall time, its own start included.
	var devLat, bindLat, startLat []time.Duration
	go func() {
		defer ownWG.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
			}
			// The same program started with no arguments (it prints its
			// usage and exits): what the wall times owe to starting a
			// process on the busy machine rather than to the home agent.
			t0 := time.Now()
			var exitErr *exec.ExitError
			if err := exec.CommandContext(ctx, cfg.HA).Run(); err == nil || errors.As(err, &exitErr) {
				startLat = append(startLat, time.Since(t0))
			}
			for _, what := range []string{"device", "binding"} {
				t0 := time.Now()
				out, err := exec.CommandContext(ctx, cfg.HA, what, "list", "--admin-socket", sock, "--json").CombinedOutput()
				switch {
				case err == nil && what == "device":
					devLat = append(devLat, time.Since(t0))
				case err == nil:
					bindLat = append(bindLat, time.Since(t0))
				case runCtx.Err() == nil:
					r.fail(fmt.Errorf("ha %s list: %w: %s", what, err, lastLines(string(out), 3)))
				}
			}
		}
	}()
	// The home agent's footprint halfway through, with every device
	// connected and busy.
	var mid map[string]float64
	select {
	case <-time.After(cfg.Duration / 2):
		mid = scrape()
		res.RSSLoaded, res.ThreadsLoaded = procStatus(ha.Pid())
	case <-runCtx.Done():
	}
	<-runCtx.Done()
	after := scrape()
	res.Elapsed = time.Since(start)
	res.HACPU, res.GenCPU = procCPU(ha.Pid())-haCPU0, selfCPU()-genCPU0
	res.RcvbufDropsHA = udpRcvbufErrors(ctx, lab.HA) - haDrops0
	res.RcvbufDropsCN = udpRcvbufErrors(ctx, lab.CN) - cnDrops0
	devWG.Wait()
	ownWG.Wait()

	res.Accepted = uint64(after[`homeip_ha_binding_updates_total{status="accepted"}`] - before[`homeip_ha_binding_updates_total{status="accepted"}`])
	res.ClientAcked = r.acked.Load()
	res.GoroutinesLoaded, res.ConnsLoaded = mid["homeip_ha_goroutines"], mid["homeip_ha_control_connections"]
	res.BindingsKeptStarted, res.BindingsKept = before["homeip_ha_bindings_kept"], after["homeip_ha_bindings_kept"]
	res.Moves, res.Heartbeats, res.Expiries = r.moves.Load(), r.heartbeats.Load(), r.expiries.Load()
	res.Revoked, res.RevokeSeen, res.Reconnects = revoked.Load(), r.revokeSeen.Load(), r.reconnects.Load()
	res.Errors, res.FirstError = r.errs.Load(), r.firstErr
	res.DevicesList, res.BindingsList, res.ProcessStart = devLat, bindLat, startLat
	r.refused.Range(func(k, v any) bool {
		res.Refused[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	for _, d := range devs {
		res.BULatency = append(res.BULatency, d.buLat...)
		res.MoveLatency = append(res.MoveLatency, d.moveLat...)
		if !d.revoked {
			res.Connected++
		}
		d.close()
	}
	return res, nil
}

// waitReady waits until ha's admin API answers and reads the certificate
// fingerprint the devices pin.
func (r *loadRun) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := r.admin.Pool(); err == nil {
			return nil
		}
		select {
		case <-r.ha.Done():
			return fmt.Errorf("homeip-lab load: ha exited at start: %w", r.ha.Wait(ctx))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("homeip-lab load: ha's admin API not answering after 20 s")
		}
	}
}

// fail counts an unexpected error and keeps the first.
func (r *loadRun) fail(err error) {
	r.errs.Add(1)
	r.errMu.Lock()
	if r.firstErr == "" {
		r.firstErr = err.Error()
	}
	r.errMu.Unlock()
}

func (r *loadRun) refusedAs(st binding.Status) {
	v, _ := r.refused.LoadOrStore(st.String(), new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

// scrape reads ha's metrics endpoint inside its namespace; samples are
// keyed by name and labels as printed.
func (r *loadRun) scrape(ctx context.Context, addr netip.AddrPort) map[string]float64 {
	out := map[string]float64{}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			return r.lab.HA.Dial(ctx, network, a)
		}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr.String()+"/metrics", nil)
	if err != nil {
		return out
	}
	resp, err := hc.Do(req)
	if err != nil {
		r.fail(fmt.Errorf("scraping ha's metrics: %w", err))
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// procStatus reads a process's resident memory (bytes) and thread count
// from /proc.
func procStatus(pid int) (rss int64, threads int) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			rss = kb * 1024
		case "Threads:":
			threads, _ = strconv.Atoi(f[1])
		}
	}
	return rss, threads
}

// procCPU reads the user and system CPU time a process used so far from
// /proc (in clock ticks of 10 ms, the Linux USER_HZ).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from its closing parenthesis.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// udpRcvbufErrors reads the UDP RcvbufErrors counter of node n's
// namespace (/proc/net/snmp is per namespace).
func udpRcvbufErrors(ctx context.Context, n *netlab.Node) uint64 {
	out, err := n.Run(ctx, "cat", "/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.ParseUint(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
}

// selfCPU is the CPU time this process used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadDevice is one played device. Its fields are owned by its
// goroutine (newDevice's, then play's).
type loadDevice struct {
	name    string
	cert    tls.Certificate
	wg      tunnel.Key // private
	fp      [32]byte   // the home agent's pinned certificate
	pc      net.PacketConn
	conn    *quic.Conn
	stream  *quic.Stream
	rd      *binding.Reader
	seq     uint16
	revoked bool
	buLat   []time.Duration
	moveLat []time.Duration
	sent    []time.Time
	// Reused messages.
	bu  binding.BindingUpdate
	ack binding.BindingAck
}

// newDevice creates the device in the registry, enrols it over QUIC from
// cn and registers it with a first binding.
func (r *loadRun) newDevice(ctx context.Context, name string) (*loadDevice, error) {
	_, priv, err := ed25519.GenerateKey(crand.Reader)
	if err != nil {
		return nil, err
	}
	cert, err := binding.SelfSignedCert(priv, name)
	if err != nil {
		return nil, err
	}
	wg, err := tunnel.GeneratePrivateKey()
	if err != nil {
		return nil, err
	}
	added, err := r.admin.AddDevice(name)
	if err != nil {
		return nil, fmt.Errorf("ha device add %s: %w", name, err)
	}
	tok, err := binding.ParseToken(added.Token)
	if err != nil {
		return nil, err
	}
	d := &loadDevice{name: name, cert: cert, wg: wg, fp: tok.Fingerprint, sent: make([]time.Time, 0, r.cfg.Window)}
	if err := r.connect(ctx, d); err != nil {
		return nil, err
	}
	if err := d.send(&binding.Enroll{Token: tok.Secret, WGPublicKey: wg.PublicKey(), Hostname: name}); err != nil {
		return nil, err
	}
	var eack binding.EnrollAck
	if err := d.expect(binding.TypeEnrollAck, &eack); err != nil {
		return nil, err
	}
	if eack.Status != binding.StatusAccepted {
		return nil, fmt.Errorf("enrolment of %s: %v", name, eack.Status)
	}
	if err := r.register(d); err != nil {
		return nil, err
	}
	if _, err := r.updates(d, 1, loadLifetime); err != nil {
		return nil, err
	}
	return d, nil
}

// connect opens a control connection from a new UDP socket in cn: a new
// source port, as a device that moved.
func (r *loadRun) connect(ctx context.Context, d *loadDevice) error {
	pc, err := r.lab.CN.ListenPacket(ctx, "udp4", "0.0.0.0:0")
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := quic.Dial(dctx, pc, r.addr, binding.ClientTLSConfig(d.cert, d.fp, ""),
		&quic.Config{MaxIdleTimeout: time.Minute, InitialPacketSize: binding.InitialPacketSize})
	if err != nil {
		pc.Close()
		return fmt.Errorf("dialling the home agent: %w", err)
	}
	stream, err := conn.OpenStreamSync(dctx)
	if err != nil {
		conn.CloseWithError(0, "")
		pc.Close()
		return fmt.Errorf("opening the control stream: %w", err)
	}
	d.pc, d.conn, d.stream, d.rd = pc, conn, stream, binding.NewReader(stream, 0)
	return nil
}

func (d *loadDevice) close() {
	if d.conn != nil {
		d.conn.CloseWithError(0, "")
		d.pc.Close()
		d.conn = nil
	}
}

func (d *loadDevice) send(m binding.Message) error {
	d.stream.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return revokedIf(binding.WriteMessage(d.stream, m))
}

// codeRevoked is the QUIC application error code the home agent closes a
// revoked device's connections with.
const codeRevoked = 2

// revokedIf returns errRevoked for an error that says the home agent
// closed the connection because the device was revoked, else err.
func revokedIf(err error) error {
	var appErr *quic.ApplicationError
	if errors.As(err, &appErr) && appErr.Remote && appErr.ErrorCode == codeRevoked {
		return errRevoked
	}
	return err
}

// expect reads until a message of type t and decodes it into m; a
// Deregister on the way (revocation) ends the device.
func (d *loadDevice) expect(t binding.Type, m binding.Message) error {
	d.stream.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		got, err := d.rd.Next()
		if err != nil {
			return revokedIf(err)
		}
		switch got {
		case t:
			return d.rd.Decode(m)
		case binding.TypeDeregister:
			var dr binding.Deregister
			if d.rd.Decode(&dr) == nil && dr.Status == binding.StatusRevoked {
				return errRevoked
			}
		}
	}
}

// register sends Register and checks the answer.
func (r *loadRun) register(d *loadDevice) error {
	if err := d.send(&binding.Register{WGPublicKey: d.wg.PublicKey(), Lifetime: loadLifetime, Software: "homeip-lab load"}); err != nil {
		return err
	}
	var ack binding.RegisterAck
	if err := d.expect(binding.TypeRegisterAck, &ack); err != nil {
		return err
	}
	switch ack.Status {
	case binding.StatusAccepted, binding.StatusLifetimeShortened:
		return nil
	case binding.StatusRevoked:
		return errRevoked
	}
	return fmt.Errorf("registration of %s: %v", d.name, ack.Status)
}

// updates sends n binding updates back to back (each asking for an ack)
// and then reads their acks, recording each one's latency. It returns how
// many were accepted.
func (r *loadRun) updates(d *loadDevice, n int, lifetime time.Duration) (int, error) {
	local, _ := netip.ParseAddrPort(d.pc.LocalAddr().String())
	d.sent = d.sent[:0]
	for range n {
		d.seq++
		d.bu = binding.BindingUpdate{Sequence: d.seq, Flags: binding.FlagAck, Lifetime: lifetime, Via: 1,
			Entries: append(d.bu.Entries[:0], binding.CareOf{BID: 1, Kind: binding.KindWiFi, Priority: 10, Local: local})}
		d.sent = append(d.sent, time.Now())
		if err := d.send(&d.bu); err != nil {
			return 0, err
		}
	}
	ok := 0
	for i := range n {
		if err := d.expect(binding.TypeBindingAck, &d.ack); err != nil {
			return ok, err
		}
		d.buLat = append(d.buLat, time.Since(d.sent[i]))
		switch d.ack.Status {
		case binding.StatusAccepted, binding.StatusLifetimeShortened:
			ok++
			r.acked.Add(1)
		case binding.StatusRevoked:
			return ok, errRevoked
		default:
			r.refusedAs(d.ack.Status)
			if d.ack.Status == binding.StatusStaleSequence {
				d.seq = d.ack.Sequence
			}
		}
	}
	return ok, nil
}

// play runs the device's turns until ctx ends or it is revoked. A turn
// is, by the configured mix: a move (a new connection from a new source
// port, a registration and a binding update on it), a heartbeat, an
// expiry (an update with a 1 s lifetime, a wait until the home agent's
// sweep expired it, a registration again and a new binding), or by
// default a burst of Window binding updates.
func (r *loadRun) play(ctx context.Context, d *loadDevice, rng *rand.Rand) {
	cfg := r.cfg
	next := time.Now().Add(time.Duration(rng.Int64N(int64(time.Second)))) // spread the devices' first bursts
	if cfg.Rate <= 0 {
		next = time.Time{}
	}
	for ctx.Err() == nil {
		var err error
		switch x := rng.Float64() * 100; {
		case x < cfg.MovePct:
			d.close()
			t0 := time.Now()
			if err = r.connect(ctx, d); err == nil {
				if err = r.register(d); err == nil {
					if _, err = r.updates(d, 1, loadLifetime); err == nil {
						d.moveLat = append(d.moveLat, time.Since(t0))
						r.moves.Add(1)
					}
				}
			}
		case x < cfg.MovePct+cfg.HeartbeatPct:
			if err = d.send(&binding.Heartbeat{Nonce: rng.Uint64(), Time: time.Now().UnixNano()}); err == nil {
				var hb binding.HeartbeatAck
				if err = d.expect(binding.TypeHeartbeatAck, &hb); err == nil {
					r.heartbeats.Add(1)
				}
			}
		case x < cfg.MovePct+cfg.HeartbeatPct+cfg.ExpirePct:
			if _, err = r.updates(d, 1, expireLifetime); err == nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(expireWait):
				}
				if err = r.register(d); err == nil {
					if _, err = r.updates(d, 1, loadLifetime); err == nil {
						r.expiries.Add(1)
					}
				}
			}
		default:
			if cfg.Rate > 0 {
				// Pace: this device's share of the rate, in bursts of
				// Window, never catching up on a backlog.
				interval := time.Duration(float64(cfg.Window) * float64(cfg.Devices) / cfg.Rate * float64(time.Second))
				now := time.Now()
				if next.Before(now) {
					next = now
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(next.Sub(now)):
				}
				next = next.Add(interval)
			}
			_, err = r.updates(d, cfg.Window, loadLifetime)
		}
		switch {
		case err == nil:
		case errors.Is(err, errRevoked):
			d.revoked = true
			r.revokeSeen.Add(1)
			return
		case ctx.Err() != nil:
			return
		default:
			// The connection broke: count it and come back on a new one.
			r.fail(fmt.Errorf("device %s: %w", d.name, err))
			d.close()
			if err := r.connect(ctx, d); err != nil {
				if ctx.Err() == nil {
					r.fail(fmt.Errorf("device %s reconnecting: %w", d.name, err))
				}
				return
			}
			r.reconnects.Add(1)
			if err := r.register(d); errors.Is(err, errRevoked) {
				d.revoked = true
				r.revokeSeen.Add(1)
				return
			}
		}
	}
}

// percentile returns the p-th percentile (0–100) of ds, sorting it.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(float64(len(ds)-1) * p / 100)
	return ds[i]
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
