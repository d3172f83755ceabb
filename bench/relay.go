package bench

import (
	"context"
	"fmt"
	"net"
	"sync"
)

// Relay is the baseline: "no routing at all". Every accepted connection is
// copied byte for byte to its own connection to the destination, through a
// 64 KiB user-space buffer (the router's default read size), without
// parsing. `logplex bench relay` runs it in its own process so its CPU and
// memory are measured like the router's.
type Relay struct {
	ln net.Listener
	to string
	wg sync.WaitGroup
}

// ListenRelay listens on addr and relays to dest.
func ListenRelay(addr, dest string) (*Relay, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	return &Relay{ln: ln, to: dest}, nil
}

// Addr is the relay's listening address.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Serve relays until ctx ends.
func (r *Relay) Serve(ctx context.Context) error {
	go func() { <-ctx.Done(); r.ln.Close() }()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			r.wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		r.wg.Add(1)
		go r.pipe(ctx, c)
	}
}

func (r *Relay) pipe(ctx context.Context, in net.Conn) {
	defer r.wg.Done()
	defer in.Close()
	out, err := net.Dial("tcp", r.to)
	if err != nil {
		return
	}
	defer out.Close()
	stop := context.AfterFunc(ctx, func() { in.Close(); out.Close() })
	defer stop()
	buf := make([]byte, 64<<10)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF: the sender is done
			return
		}
	}
}
