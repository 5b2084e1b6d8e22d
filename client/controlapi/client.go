package controlapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"
	"time"

	"github.com/homeip/homeip/client"
)

// call sends one request to the node at path.
func call(ctx context.Context, path, cmd string) (response, error) {
	var resp response
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return resp, fmt.Errorf("%w (no node answers on %s)", client.ErrNotRunning, path)
		}
		return resp, fmt.Errorf("controlapi: control socket %s: %w", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(10 * time.Second))
	}
	b, _ := json.Marshal(request{Cmd: cmd})
	if _, err := c.Write(append(b, '\n')); err != nil {
		return resp, fmt.Errorf("controlapi: control socket: %w", err)
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 4096), 1<<20)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return resp, fmt.Errorf("controlapi: control socket: %w", err)
		}
		return resp, fmt.Errorf("controlapi: control socket: node closed the connection")
	}
	if err := json.Unmarshal(sc.Bytes(), &resp); err != nil {
		return resp, fmt.Errorf("controlapi: control socket: bad answer: %w", err)
	}
	if !resp.OK {
		return resp, fmt.Errorf("controlapi: node refused %s: %s", cmd, resp.Error)
	}
	return resp, nil
}

// QueryStatus asks the node listening on the control socket at path for
// its status. client.ErrNotRunning when nothing listens there.
func QueryStatus(ctx context.Context, path string) (client.Status, error) {
	resp, err := call(ctx, path, "status")
	if err != nil {
		return client.Status{}, err
	}
	if resp.Status == nil {
		return client.Status{}, fmt.Errorf("controlapi: control socket: answer without status")
	}
	return *resp.Status, nil
}

// RequestDown asks the node listening at path to stop. It returns once the
// node has accepted the request, not when it has stopped.
func RequestDown(ctx context.Context, path string) error {
	_, err := call(ctx, path, "down")
	return err
}
