package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"
)

// Client calls the admin API of a running home agent.
type Client struct {
	hc *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (c *Client) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://ha"+path, rd)
	if err != nil {
		return fmt.Errorf("adminapi: %w", err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("adminapi: is the home agent running? %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("adminapi: reading answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		json.Unmarshal(data, &eb)
		var sentinel error
		switch resp.StatusCode {
		case http.StatusNotFound:
			sentinel = ErrNotFound
		case http.StatusConflict:
			sentinel = ErrConflict
		case http.StatusBadRequest:
			sentinel = ErrInvalid
		}
		if sentinel != nil {
			return &RemoteError{Msg: eb.Error, sentinel: sentinel}
		}
		return &RemoteError{Msg: fmt.Sprintf("%s (HTTP %d)", eb.Error, resp.StatusCode)}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("adminapi: decoding answer: %w", err)
	}
	return nil
}

// RemoteError is an error reported by the home agent.
type RemoteError struct {
	Msg      string
	sentinel error
}

func (e *RemoteError) Error() string { return e.Msg }

// Is matches the sentinel the home agent's answer stands for.
func (e *RemoteError) Is(target error) bool {
	return e.sentinel != nil && errors.Is(e.sentinel, target)
}

func esc(name string) string { return url.PathEscape(name) }

// AddDevice creates a device and returns its one-time enrolment token.
func (c *Client) AddDevice(name string) (r AddDeviceResult, err error) {
	err = c.do("POST", "/v1/devices", map[string]string{"name": name}, &r)
	return r, err
}

// NewToken issues another enrolment token for an existing device.
func (c *Client) NewToken(name string) (r AddDeviceResult, err error) {
	err = c.do("POST", "/v1/devices/"+esc(name)+"/token", struct{}{}, &r)
	return r, err
}

// Tokens lists a device's enrolment tokens.
func (c *Client) Tokens(name string) (r []TokenInfo, err error) {
	err = c.do("GET", "/v1/devices/"+esc(name)+"/tokens", nil, &r)
	return r, err
}

// CancelTokens cancels a device's unredeemed enrolment tokens.
func (c *Client) CancelTokens(name string) (r CancelTokensResult, err error) {
	err = c.do("DELETE", "/v1/devices/"+esc(name)+"/tokens", nil, &r)
	return r, err
}

// Devices lists every device.
func (c *Client) Devices() (r []Device, err error) {
	err = c.do("GET", "/v1/devices", nil, &r)
	return r, err
}

// Device returns one device.
func (c *Client) Device(name string) (r Device, err error) {
	err = c.do("GET", "/v1/devices/"+esc(name), nil, &r)
	return r, err
}

// RevokeDevice revokes a device.
func (c *Client) RevokeDevice(name string) (r Device, err error) {
	err = c.do("POST", "/v1/devices/"+esc(name)+"/revoke", struct{}{}, &r)
	return r, err
}

// RenameDevice renames a device.
func (c *Client) RenameDevice(name, newName string) (r Device, err error) {
	err = c.do("POST", "/v1/devices/"+esc(name)+"/rename", map[string]string{"new_name": newName}, &r)
	return r, err
}

// ReserveAddr pins a device to an address.
func (c *Client) ReserveAddr(name string, addr netip.Addr) (r Device, err error) {
	err = c.do("POST", "/v1/devices/"+esc(name)+"/reserve", map[string]netip.Addr{"addr": addr}, &r)
	return r, err
}

// UnreserveAddr removes a device's reservation of addr.
func (c *Client) UnreserveAddr(name string, addr netip.Addr) (r Device, err error) {
	err = c.do("DELETE", "/v1/devices/"+esc(name)+"/reserve/"+esc(addr.String()), nil, &r)
	return r, err
}

// DeleteDevice removes a device for good; its addresses go into
// quarantine.
func (c *Client) DeleteDevice(name string) (r DeleteResult, err error) {
	err = c.do("DELETE", "/v1/devices/"+esc(name), nil, &r)
	return r, err
}

// ExportDevice returns a device's wg-quick configuration.
func (c *Client) ExportDevice(name string) (r Export, err error) {
	err = c.do("POST", "/v1/devices/"+esc(name)+"/export", struct{}{}, &r)
	return r, err
}

// Bindings lists the bindings.
func (c *Client) Bindings() (r []Binding, err error) {
	err = c.do("GET", "/v1/bindings", nil, &r)
	return r, err
}

// Pool returns the pool utilisation.
func (c *Client) Pool() (r []PoolPrefix, err error) {
	err = c.do("GET", "/v1/pool", nil, &r)
	return r, err
}

// Drain asks every connected device to switch to the other home agent, then
// shuts the home agent down.
func (c *Client) Drain() (r DrainResult, err error) {
	err = c.do("POST", "/v1/drain", struct{}{}, &r)
	return r, err
}
