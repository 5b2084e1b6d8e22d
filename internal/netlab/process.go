package netlab

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxOutput bounds the output a Process keeps (the latest bytes win).
const maxOutput = 8 << 20

// Process is a command started inside a lab namespace with Lab.Start. Its
// combined stdout and stderr are captured. The lab kills it at Close. Its
// methods are safe for concurrent use.
type Process struct {
	Node *Node
	Name string

	cmd  *exec.Cmd
	lab  *Lab
	done chan struct{}
	err  error // set before done is closed

	mu  sync.Mutex // guards out
	out bytes.Buffer
}

type procWriter struct{ p *Process }

func (w procWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	w.p.out.Write(b)
	if w.p.out.Len() > maxOutput {
		w.p.out.Next(w.p.out.Len() - maxOutput)
	}
	return len(b), nil
}

// Start starts name inside node n. The process runs in its own process
// group; it is killed (SIGKILL to the group) when ctx ends, and stopped at
// Close. It also dies with the lab's spawner thread (PR_SET_PDEATHSIG,
// see spawner), so a killed test leaves no orphan running.
func (l *Lab) Start(ctx context.Context, n *Node, name string, args ...string) (*Process, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
	p := &Process{Node: n, Name: name, cmd: cmd, lab: l, done: make(chan struct{})}
	cmd.Stdout = procWriter{p}
	cmd.Stderr = procWriter{p}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	var err error
	l.spawn.do(func() { err = cmd.Start() })
	if err != nil {
		l.mu.Unlock()
		return nil, fmt.Errorf("netlab: %s: starting %s %s: %w", n.NS, name, strings.Join(args, " "), err)
	}
	l.procs[p] = struct{}{}
	l.mu.Unlock()
	l.log.Debug("process started", "node", n.Role, "cmd", name, "pid", cmd.Process.Pid)

	go func() {
		p.err = cmd.Wait()
		close(p.done)
		l.mu.Lock()
		delete(l.procs, p)
		l.mu.Unlock()
	}()
	return p, nil
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns what the process has written to stdout and stderr so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit or ctx to end, and returns its exit
// error (nil for status 0).
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Signal sends sig to the process group.
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("netlab: signalling %s: %w", p.Name, err)
	}
	return nil
}

// Stop sends SIGTERM, waits up to grace, then sends SIGKILL and waits for
// the process to exit.
func (p *Process) Stop(grace time.Duration) {
	_ = p.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return
	case <-t.C:
	}
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}
