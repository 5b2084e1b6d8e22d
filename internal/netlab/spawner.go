package netlab

import (
	"runtime"
	"sync"
)

// spawner starts processes from one OS thread that stays alive until the
// lab closes. Processes get PR_SET_PDEATHSIG, which the kernel fires when
// the *thread* that forked them exits, not the process; and Go lets
// threads exit whenever a goroutine ends while locked to one (netlab's
// Do, the tunnel's namespace switches, test helpers). Forking from an
// arbitrary goroutine therefore let a lab process be SIGKILLed at a random
// moment; forking from this thread ties it to the lab's life instead.
// It is safe for concurrent use.
type spawner struct {
	once sync.Once
	reqs chan func()
	done chan struct{}
}

// do runs fn on the spawner's thread and waits for it. It must not be
// called after stop.
func (s *spawner) do(fn func()) {
	s.once.Do(func() {
		s.reqs = make(chan func())
		s.done = make(chan struct{})
		go s.loop()
	})
	finished := make(chan struct{})
	s.reqs <- func() { fn(); close(finished) }
	<-finished
}

func (s *spawner) loop() {
	// Locked and never unlocked: when stop ends the loop, the thread
	// exits with it, which is only right once the lab's processes are
	// gone.
	runtime.LockOSThread()
	defer close(s.done)
	for fn := range s.reqs {
		fn()
	}
}

// stop ends the spawner's thread once no request is pending and waits
// for it. Call it after the processes it started have exited.
func (s *spawner) stop() {
	s.once.Do(func() {}) // never started: nothing to stop
	if s.reqs == nil {
		return
	}
	close(s.reqs)
	<-s.done
}
