package drain

import (
	"time"

	"github.com/logplex/logplex/frame"
	"github.com/logplex/logplex/ringbuf"
)

// sendBatch writes one batch to the connection. It reports false when there
// was nothing to send (the buffer is empty and no loss is pending); a
// failure closes the connection.
func (s *syslogSender) sendBatch() bool {
	select {
	case <-s.peerGone:
		s.dropConn(errPeerClosed)
		return true
	default:
	}
	if !s.buildBatch() {
		return false
	}
	s.syncDrops()
	if s.skipped > 0 {
		s.d.Stats.AddDropped(s.skipped)
	}
	if len(s.wbuf) == 0 {
		return true
	}
	start := time.Now()
	s.lastWrite, s.idle = start, false
	if err := s.write(); err != nil {
		s.batchFailed(err)
		return true
	}
	s.d.Buf.Settle()
	s.failures = 0
	s.lastGood = time.Now()
	s.d.Stats.AddDelivered(s.msgs)
	s.d.Stats.AddBytes(len(s.wbuf))
	s.d.Stats.ObserveLatency(time.Since(start))
	return true
}

// buildBatch takes the next batch out of the buffer into wbuf; false when
// there is nothing to send.
func (s *syslogSender) buildBatch() bool {
	s.now = s.clock()
	s.wbuf, s.remaining, s.had = s.wbuf[:0], s.o.TCPTargetBytes, false
	s.msgs, s.skipped, s.loss, s.lossSince = 0, 0, 0, 0
	s.d.Buf.Take(s.fillFn)
	return s.had
}

// fill frames the batch under the buffer's lock: the L10 notice of a pending
// loss first, then messages while they fit the target (docs/logplex.md §5.3, Logplex's
// to_pkts: a message is taken while it leaves budget > 0; one that alone
// reaches the target is taken anyway and ends the batch).
func (s *syslogSender) fill(r *ringbuf.Ring) {
	s.had = r.Len() > 0
	if n, since := r.TakeLoss(); n > 0 {
		s.had = true
		s.loss, s.lossSince = n, since
		if !s.o.TCPDontSendLoss {
			s.wbuf = frame.AppendL10Syslog(s.wbuf, s.now, s.token, n, time.Unix(0, since))
			s.remaining -= len(s.wbuf)
		}
	}
	r.PopWhile(s.takeFn)
}

// take frames one message into the batch, or reports false to leave it for
// the next one.
func (s *syslogSender) take(msg []byte) bool {
	if s.remaining <= 0 {
		return false
	}
	f, ok := frame.ParseDrain(msg)
	if !ok {
		s.skipped++
		return true
	}
	start := len(s.wbuf)
	s.wbuf = frame.AppendSyslogDrain(s.wbuf, f, s.token)
	size := len(s.wbuf) - start
	switch {
	case s.remaining-size > 0:
		s.remaining -= size
	case size >= s.o.TCPTargetBytes:
		s.remaining = 0
	default:
		s.wbuf = s.wbuf[:start]
		return false
	}
	s.msgs++
	return true
}

// write writes the batch with a deadline of TCPSendTimeout.
func (s *syslogSender) write() error {
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.o.TCPSendTimeout)); err != nil {
		return err
	}
	_, err := s.conn.Write(s.wbuf)
	return err
}

// batchFailed counts the messages of a failed write as dropped and puts
// them, and the loss its L10 carried, back into the ring's loss so the next
// L10 reports them.
func (s *syslogSender) batchFailed(err error) {
	if s.d.Buf.Retake() { // the batch came from the disk spill: it is taken again
		s.dropConn(err)
		return
	}
	lost := s.msgs
	if !s.o.TCPDontSendLoss {
		lost += s.loss
	}
	first := s.now.UnixNano()
	if s.loss > 0 && !s.o.TCPDontSendLoss {
		first = s.lossSince
	}
	s.d.Buf.With(func(r *ringbuf.Ring) {
		n, since := r.TakeLoss()
		if n > 0 && since < first {
			first = since
		}
		r.AddLoss(n+lost, first)
	})
	s.d.Stats.AddDropped(s.msgs)
	s.dropConn(err)
}

// syncDrops adds the buffer's overflow drops since the last call to Stats.
func (s *syslogSender) syncDrops() {
	_, drops, _ := s.d.Buf.Stats()
	if drops > s.seenDrops {
		s.d.Stats.AddDropped(int(drops - s.seenDrops))
		s.seenDrops = drops
	}
}
