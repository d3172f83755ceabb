package bench

import (
	"net"
	"sync"
)

// connServer accepts connections on a listener and runs serve on each in
// its own goroutine, tracking them so Close can end them all and wait. The
// sinks embed it.
type connServer struct {
	ln    net.Listener
	serve func(net.Conn)
	wg    sync.WaitGroup

	cmu   sync.Mutex
	conns map[net.Conn]struct{}
}

// start begins accepting on ln.
func (s *connServer) start(ln net.Listener, serve func(net.Conn)) {
	s.ln, s.serve, s.conns = ln, serve, map[net.Conn]struct{}{}
	s.wg.Add(1)
	go s.accept()
}

// Close stops listening, closes every connection and waits.
func (s *connServer) Close() {
	s.ln.Close()
	s.cmu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.cmu.Unlock()
	s.wg.Wait()
}

// open is how many connections are open.
func (s *connServer) open() int {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return len(s.conns)
}

func (s *connServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.cmu.Lock()
		s.conns[c] = struct{}{}
		s.cmu.Unlock()
		s.wg.Add(1)
		go s.run(c)
	}
}

func (s *connServer) run(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.cmu.Lock()
		delete(s.conns, c)
		s.cmu.Unlock()
	}()
	s.serve(c)
}
