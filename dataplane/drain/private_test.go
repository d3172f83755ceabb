package drain

import (
	"errors"
	"net"
	"strconv"
	"testing"
)

// Without --allow-private-drains a drain cannot connect to a private
// address, whatever name led there; with it, it can.
func TestDialRefusesPrivateAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	var o Options
	o.setDefaults()
	d := o.newDialer(o.TCPSendTimeout)
	for _, addr := range []string{ln.Addr().String(), net.JoinHostPort("localhost", strconv.Itoa(port))} {
		if _, err := d.Dial("tcp", addr); !errors.Is(err, ErrPrivateAddress) {
			t.Errorf("dial %s without permission: %v, want ErrPrivateAddress", addr, err)
		}
	}
	o.AllowPrivateDrains = true
	d = o.newDialer(o.TCPSendTimeout)
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial with --allow-private-drains: %v", err)
	}
	c.Close()
}
