package client

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/homeip/homeip/binding"
)

// EnrollOptions tunes Enroll. The zero value is usable.
type EnrollOptions struct {
	// Hostname is sent to the home agent (informational); default
	// os.Hostname.
	Hostname string
	// Timeout bounds the attempt per home agent address (default 10 s).
	Timeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Enroll redeems an enrolment token: it creates the device's identity key
// and WireGuard key in dir (reusing them if an earlier attempt created
// them), connects to the home agent named in the token with its
// fingerprint pinned, sends Enroll, and stores the result. Nothing is
// stored unless the home agent accepted the token.
//
// Errors: ErrInvalid for a malformed token (typos are caught by its
// checksum), ErrAlreadyEnrolled, ErrFingerprintMismatch, ErrUnreachable,
// and ErrRejected wrapping binding.ErrBadToken for an unknown, expired or
// already used token.
func Enroll(ctx context.Context, dir *StateDir, tokenText string, opt EnrollOptions) (Persisted, error) {
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "client")
	tok, err := binding.ParseToken(tokenText)
	if err != nil {
		return Persisted{}, fmt.Errorf("client: bad enrolment token: %w (%w)", err, ErrInvalid)
	}
	if _, err := dir.Load(); err == nil {
		return Persisted{}, fmt.Errorf("%w (%s)", ErrAlreadyEnrolled, dir.Path())
	} else if !errors.Is(err, ErrNotEnrolled) {
		return Persisted{}, err
	}
	unlock, err := dir.Lock()
	if err != nil {
		return Persisted{}, err
	}
	defer unlock()
	id, err := dir.IdentityKey(true)
	if err != nil {
		return Persisted{}, err
	}
	wgPriv, err := dir.WireGuardKey(true)
	if err != nil {
		return Persisted{}, err
	}
	wgPub, err := wgPriv.PublicKey()
	if err != nil {
		return Persisted{}, err
	}
	host := opt.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	if len(host) > 255 {
		host = host[:255]
	}
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	tlsConf, err := clientTLS(id, tok.Fingerprint)
	if err != nil {
		return Persisted{}, err
	}
	var errs []error
	for _, addr := range tok.Addrs {
		ack, err := enrollAt(ctx, addr, tlsConf, timeout, &binding.Enroll{Token: tok.Secret, WGPublicKey: wgPub, Hostname: host}, log)
		if err != nil {
			log.Warn("enrolment attempt failed", "home_agent", addr, "err", err)
			if errors.Is(err, ErrFingerprintMismatch) || ctx.Err() != nil {
				return Persisted{}, err
			}
			errs = append(errs, err)
			continue
		}
		if !ack.Status.OK() {
			reason := ""
			if ack.Status == binding.StatusBadToken {
				reason = "the token is unknown, expired or already used"
			}
			return Persisted{}, fmt.Errorf("%w: enrolment: %w", ErrRejected, ack.Status.Err(reason))
		}
		st := Persisted{
			DeviceID:   ack.DeviceID,
			DeviceName: ack.DeviceName,
			HomeAgent:  HomeAgent{Addrs: tok.Addrs, Fingerprint: tok.Fingerprint},
			EnrolledAt: time.Now().UTC(),
		}
		if err := dir.Save(st); err != nil {
			return Persisted{}, err
		}
		log.Info("enrolled", "device_id", st.DeviceID, "name", st.DeviceName, "home_agent", addr)
		return st, nil
	}
	return Persisted{}, fmt.Errorf("%w: %w", ErrUnreachable, errors.Join(errs...))
}

// enrollAt runs one enrolment exchange over a fresh UDP socket.
func enrollAt(ctx context.Context, addr netip.AddrPort, tlsConf *tls.Config, timeout time.Duration, m *binding.Enroll, log *slog.Logger) (ack *binding.EnrollAck, err error) {
	err = oneShot(ctx, addr, tlsConf, timeout, "enrolment", log, func(ctx context.Context, s *session) error {
		ack, err = s.Enroll(ctx, m)
		return err
	})
	return ack, err
}

// oneShot dials the home agent at addr from a fresh UDP socket of its own
// (not the data plane's: enrolment and the configuration fetch run before
// there is one), runs fn on the session within timeout, and closes
// everything. purpose names the exchange in errors.
func oneShot(ctx context.Context, addr netip.AddrPort, tlsConf *tls.Config, timeout time.Duration, purpose string, log *slog.Logger, fn func(context.Context, *session) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	network := "udp4"
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		network = "udp6"
	}
	pc, err := net.ListenUDP(network, nil)
	if err != nil {
		return fmt.Errorf("client: %s socket: %w", purpose, err)
	}
	tr := &quic.Transport{Conn: pc}
	defer func() {
		tr.Close()
		pc.Close()
	}()
	s, err := dialSession(ctx, tr, addr, tlsConf, quicConfig(30*time.Second), log)
	if err != nil {
		return classifyDialError(err)
	}
	defer s.Close()
	return fn(ctx, s)
}

// classifyDialError marks timeouts as ErrUnreachable.
func classifyDialError(err error) error {
	var idle *quic.IdleTimeoutError
	var hs *quic.HandshakeTimeoutError
	if errors.As(err, &idle) || errors.As(err, &hs) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return err
}

// clientTLS builds the TLS configuration of the device: its identity
// certificate, the home agent pinned.
func clientTLS(id ed25519.PrivateKey, pin [32]byte) (*tls.Config, error) {
	cert, err := binding.SelfSignedCert(id, "homeip device")
	if err != nil {
		return nil, fmt.Errorf("client: device certificate: %w", err)
	}
	return binding.ClientTLSConfig(cert, pin, ""), nil
}
