package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lockstepdb/lockstep/raft"
)

// A direct message connection carries one sender's message stream over a
// TCP connection of its own (TLS when configured), without gRPC: the same
// frames as the gRPC Messages stream, each preceded by its length. It
// exists for latency: a gRPC stream adds two goroutine hand-overs per
// direction (the sender's goroutine to gRPC's writer, gRPC's reader to the
// stream's handler), and on a machine where waking a thread costs tens of
// microseconds those were a large part of a put's round trip. On a direct
// connection the peer goroutine writes the batch itself, and the
// receiving goroutine reads and delivers it.
//
// Wire: in plaintext the connection starts with directMagic; over TLS the
// client asks for directProtocol by ALPN instead. Then each frame is a
// 4-byte big-endian length and the frame. The sender writes the header
// frame, the receiver answers with an accept frame or a refusal frame
// (frameRefusal: the gRPC status code as a varint, then the message) and
// closes the connection after a refusal. After the accept the sender
// writes batch frames; the receiver writes nothing more unless it refuses a
// batch (a removed member), so the sender's read returns when the
// connection ends.
const (
	// directMagic is as long as HTTP/2's client preface, so that a member
	// that serves only gRPC reads all of it, finds no preface and closes
	// the connection at once (a shorter one left it waiting for the rest
	// of the preface, and the sender for its answer, until the dial
	// timeout).
	directMagic    = "LSMSG/1 lockstep direct\n"
	directProtocol = "lockstep-messages/1"
	// frameRefusal ends a direct connection with the status the gRPC
	// stream would have ended with (receiver to sender).
	frameRefusal byte = 'R'
	// frameLengthBytes is the size of a frame's length prefix.
	frameLengthBytes = 4
	// directWriteTimeout bounds one write of a batch: a receiver that stops
	// reading for that long (a stopped process whose socket buffers are
	// full) has its connection closed and reopened.
	directWriteTimeout = keepaliveTime + keepaliveTimeout
	// userTimeout is how long written data may go unacknowledged on a
	// peer connection before the kernel ends it (setUserTimeout): the same
	// bound as the write timeout.
	userTimeout = directWriteTimeout
	// directDialTimeout bounds the dial, the handshake and the answer.
	directDialTimeout = 5 * time.Second
	// keptBufferBytes is the largest batch buffer a sender keeps for the
	// next batch.
	keptBufferBytes = 1 << 20
)

// errDirectUnsupported wraps the failure of a connection that reached the
// peer but got no answer to its header in the direct protocol: a member
// of a version without direct connections. The sender opens a gRPC
// message stream instead.
var errDirectUnsupported = errors.New("transport: peer did not answer a direct message connection")

// readFrame reads one length-prefixed frame of at most limit bytes into a
// new slice (decoded messages alias it, and the handler keeps them).
func readFrame(reader *bufio.Reader, limit int) ([]byte, error) {
	var prefix [frameLengthBytes]byte
	if _, err := io.ReadFull(reader, prefix[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(prefix[:])
	if uint64(size) > uint64(limit) {
		return nil, malformed("frame of %d bytes, the limit is %d", size, limit)
	}
	frame := make([]byte, size)
	if _, err := io.ReadFull(reader, frame); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return frame, nil
}

// appendFrame appends a frame with its length prefix.
func appendFrame(dst []byte, frame []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(frame)))
	return append(dst, frame...)
}

// appendRefusal encodes err, a gRPC status error, as a refusal frame.
func appendRefusal(dst []byte, err error) []byte {
	refusal := status.Convert(err)
	dst = append(dst, frameRefusal)
	dst = binary.AppendUvarint(dst, uint64(refusal.Code()))
	return append(dst, refusal.Message()...)
}

// decodeRefusal turns a refusal frame back into its status error.
func decodeRefusal(frame []byte) error {
	r := reader{data: frame}
	if kind := r.byte("frame kind"); r.err == nil && kind != frameRefusal {
		return malformed("frame kind %q, want a refusal", kind)
	}
	code := r.uvarint("status code")
	if r.err != nil {
		return r.err
	}
	if code == uint64(codes.OK) || code > uint64(codes.Unauthenticated) {
		// OK would make a refusal that refuses nothing (status.Error
		// returns nil for it).
		return malformed("refusal with status code %d", code)
	}
	return status.Error(codes.Code(code), string(frame[r.offset:]))
}

// serveDirect serves one direct message connection, on its own goroutine:
// it checks the header as acceptStream does for a gRPC stream, then hands
// every message of every batch to the handler, in order. The peer listener
// calls it while it still holds the connection, so closing the listener
// (Stop) closes the connection and ends it.
func (t *Transport) serveDirect(conn net.Conn, reader *bufio.Reader) {
	defer conn.Close()
	logger := t.logger.With("remote", conn.RemoteAddr().String())
	frame, err := readFrame(reader, streamHeaderMaxBytes)
	if err != nil {
		if errors.Is(err, ErrMalformed) {
			t.counters.rejectedWrongTarget.Add(1)
			t.limiter.log(logger, "bad header", slog.LevelWarn, "refusing stream with a bad header", "error", err)
			_, _ = conn.Write(appendFrame(nil, appendRefusal(nil, status.Error(codes.InvalidArgument, err.Error()))))
		}
		return
	}
	header, logger, err := t.admitStream(frame, logger)
	if err != nil {
		_, _ = conn.Write(appendFrame(nil, appendRefusal(nil, err)))
		return
	}
	if _, err := conn.Write(appendFrame(nil, []byte{frameAccept})); err != nil {
		return
	}
	_ = conn.SetDeadline(time.Time{})
	logger.Debug("direct message connection accepted")
	visit := t.batchVisitor(header, logger)
	limit := t.maxMessageBytes + frameSlack
	for {
		frame, err := readFrame(reader, limit)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				t.limiter.log(logger, "direct read", slog.LevelDebug, "direct message connection ended", "error", err)
			}
			if errors.Is(err, ErrMalformed) {
				t.counters.droppedDecodeError.Add(1)
				t.limiter.log(logger, "decode", slog.LevelWarn, "closing a direct message connection with an oversized frame", "error", err)
			}
			return
		}
		if err := t.refuseRemoved(header.from); err != nil {
			_, _ = conn.Write(appendFrame(nil, appendRefusal(nil, err)))
			return
		}
		t.receiveBatch(frame, visit, logger)
	}
}

// directConn is an open direct message connection.
type directConn struct {
	// conn carries the frames (TLS when configured).
	conn net.Conn
	// raw is the TCP connection under conn. Closing it ends any read or
	// write at once, where closing a TLS connection first tries to send
	// its closing alert, for up to 5 s when the socket buffer is full.
	raw net.Conn
	// reader reads what the receiver writes after its accept frame: a
	// refusal, or nothing until the connection ends.
	reader *bufio.Reader
}

// dialDirect opens a direct message connection to the peer and returns it
// once the peer accepted the header. A refusal comes back as the status
// error the gRPC stream would have returned; a peer that answered but not
// in the direct protocol (it closed the connection, refused the
// application protocol, or wrote something else), as errDirectUnsupported.
// A peer that does not answer within directDialTimeout, or a stop, is an
// ordinary failure: the sender backs off and tries a direct connection
// again, since a slow or paused member is not an older one.
func (p *peer) dialDirect(ctx context.Context) (*directConn, error) {
	ctx, cancel := context.WithTimeout(ctx, directDialTimeout)
	defer cancel()
	dialer := net.Dialer{KeepAliveConfig: keepaliveConfig}
	raw, err := dialer.DialContext(ctx, "tcp", p.address)
	if err != nil {
		return nil, err
	}
	setUserTimeout(raw)
	// The reads and writes below do not watch ctx: closing the connection
	// when it ends (the timeout, or Stop) ends them.
	stopClosing := context.AfterFunc(ctx, func() { raw.Close() })
	connection, err := p.handshakeDirect(ctx, raw)
	if !stopClosing() && err == nil {
		err = ctx.Err() // ctx ended as the handshake finished: raw is closed
	}
	if err != nil {
		raw.Close()
		if ctx.Err() != nil && !errors.Is(err, errDirectUnsupported) {
			return nil, fmt.Errorf("transport: direct message connection: no answer from the peer within %v: %w", directDialTimeout, err)
		}
		return nil, err
	}
	_ = raw.SetDeadline(time.Time{})
	return connection, nil
}

// handshakeDirect starts a direct message connection on raw: TLS if
// configured, the magic or the application protocol, the header, and the
// receiver's answer.
func (p *peer) handshakeDirect(ctx context.Context, raw net.Conn) (*directConn, error) {
	deadline, _ := ctx.Deadline()
	_ = raw.SetDeadline(deadline)
	conn, start := raw, []byte(directMagic)
	if p.transport.clientTLS != nil {
		config := p.transport.clientTLS.Clone()
		config.NextProtos = []string{directProtocol}
		if config.ServerName == "" {
			host, _, splitErr := net.SplitHostPort(p.address)
			if splitErr != nil {
				host = p.address
			}
			config.ServerName = host
		}
		secure := tls.Client(raw, config)
		if err := secure.HandshakeContext(ctx); err != nil {
			if strings.Contains(err.Error(), "no application protocol") {
				return nil, fmt.Errorf("%w: it did not agree to %q in the TLS handshake", errDirectUnsupported, directProtocol)
			}
			return nil, fmt.Errorf("transport: TLS handshake: %w", err)
		}
		if secure.ConnectionState().NegotiatedProtocol != directProtocol {
			return nil, fmt.Errorf("%w: it did not agree to %q", errDirectUnsupported, directProtocol)
		}
		conn, start = secure, nil
	}
	header := appendStreamHeader(make([]byte, 0, streamHeaderMaxBytes), streamHeader{
		clusterID: p.transport.config.ClusterID, from: p.transport.config.ID, to: p.id,
	})
	if _, err := conn.Write(appendFrame(start, header)); err != nil {
		return nil, closedByPeer(err)
	}
	reader := bufio.NewReaderSize(conn, 512)
	answer, err := readFrame(reader, frameSlack)
	switch {
	case errors.Is(err, ErrMalformed):
		return nil, fmt.Errorf("%w: it answered with something other than a frame: %w", errDirectUnsupported, err)
	case err != nil:
		return nil, closedByPeer(err)
	case len(answer) == 1 && answer[0] == frameAccept:
		return &directConn{conn: conn, raw: raw, reader: reader}, nil
	case len(answer) > 0 && answer[0] == frameRefusal:
		return nil, decodeRefusal(answer) // a status error, or ErrMalformed
	default:
		return nil, fmt.Errorf("%w: it answered with %d bytes that are neither accept nor refusal", errDirectUnsupported, len(answer))
	}
}

// closedByPeer wraps in errDirectUnsupported an error that says the peer
// closed the connection during the handshake, as a member that serves only
// gRPC does after it reads the magic where it expects HTTP/2's preface.
func closedByPeer(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("%w: it closed the connection: %w", errDirectUnsupported, err)
	}
	return err
}

// streamDirect opens a direct message connection and writes batches to it
// until it breaks or the peer stops; the counterpart of streamMessages.
func (p *peer) streamDirect(pending **queuedMessage, delays *backoff, opened int) error {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	connection, err := p.dialDirect(ctx)
	if err != nil {
		return err
	}
	conn := connection.conn
	defer connection.raw.Close()
	p.noteOpened(opened, delays, true, "direct message connection open")
	// The receiver writes again only to refuse this member (or closes):
	// the read returns when the connection ends, which cancels ctx.
	broken := make(chan error, 1)
	go func() {
		frame, err := readFrame(connection.reader, frameSlack)
		if err == nil {
			err = decodeRefusal(frame)
		}
		broken <- err
		cancel()
	}()
	stopClosing := context.AfterFunc(ctx, func() { connection.raw.Close() })
	defer func() { cancel(); stopClosing(); connection.raw.Close(); <-broken }()

	batch := make([]raft.Message, 0, 64)
	var buffer []byte
	for {
		batch, err = p.nextBatch(ctx, pending, batch[:0])
		if err != nil {
			return p.streamError(ctx, broken)
		}
		// The buffer is reused: the write is done when Write returns.
		buffer = append(buffer[:0], 0, 0, 0, 0, frameBatch)
		buffer = AppendBatch(buffer, batch)
		binary.BigEndian.PutUint32(buffer, uint32(len(buffer)-frameLengthBytes))
		_ = conn.SetWriteDeadline(time.Now().Add(directWriteTimeout))
		if _, err := conn.Write(buffer); err != nil {
			p.transport.counters.droppedSendFailed.Add(uint64(len(batch)))
			return p.writeError(connection.raw, broken, err)
		}
		if cap(buffer) > keptBufferBytes {
			buffer = nil // do not keep a rare large batch's buffer
		}
		p.sent.Add(uint64(len(batch)))
		p.transport.counters.sent.Add(uint64(len(batch)))
		p.transport.counters.batchesSent.Add(1)
	}
}

// writeError returns why a write to a direct connection failed: the
// receiver's refusal if it sent one before closing (a removed member),
// otherwise the write's own error (a reset, a timeout, or the peer
// stopping).
func (p *peer) writeError(raw net.Conn, broken chan error, err error) error {
	if p.ctx.Err() != nil {
		return p.ctx.Err()
	}
	var readErr error
	if errors.Is(err, os.ErrDeadlineExceeded) {
		raw.Close() // the receiver stopped reading: end the reader too
		readErr = <-broken
	} else {
		// The receiver closed or reset the connection: the reader ends by
		// itself, with the refusal the receiver wrote first, if any.
		// Closing the connection first could throw that refusal away.
		select {
		case readErr = <-broken:
		case <-time.After(directDialTimeout):
			raw.Close()
			readErr = <-broken
		}
	}
	broken <- readErr // for the deferred receive
	if refusal, isStatus := status.FromError(readErr); isStatus && refusal.Code() != codes.OK {
		return readErr
	}
	return err
}
