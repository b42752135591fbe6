package transport

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"

	"github.com/lockstepdb/lockstep/raft"
)

// Every gRPC message on a transport stream is one frame: a kind byte, then
// the kind's payload.
const (
	// frameHeader opens every stream (client to server):
	// version, cluster ID, sender ID, target ID (varints after the version).
	frameHeader byte = 'H'
	// frameAccept answers a valid header (server to client), empty.
	frameAccept byte = 'A'
	// frameBatch carries a batch of messages as encoded by AppendBatch.
	frameBatch byte = 'B'
	// frameSnapshotBegin starts a snapshot transfer: the snapshot's data
	// length (varint), its CRC-32C (4 bytes, big endian), then the message
	// encoded by AppendMessage with the snapshot data left out.
	frameSnapshotBegin byte = 'S'
	// frameSnapshotChunk carries snapshot data: its offset (varint), its
	// CRC-32C (4 bytes, big endian), then the bytes.
	frameSnapshotChunk byte = 'C'
	// frameSnapshotDone acknowledges a snapshot that was verified and
	// handed to the receiver's handler (server to client), empty.
	frameSnapshotDone byte = 'D'
)

// snapshotChunkBytes is the data size of a snapshot chunk.
const snapshotChunkBytes = 256 << 10

// frameSlack is what a frame may hold beyond MaxMessageBytes: frame kind
// and batch framing.
const frameSlack = 64 << 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	serviceName          = "lockstep.transport.Raft"
	messagesMethod       = "/" + serviceName + "/Messages"
	snapshotMethod       = "/" + serviceName + "/Snapshot"
	messagesStreamName   = "Messages"
	snapshotStreamName   = "Snapshot"
	rawCodecName         = "lockstep-raw"
	streamHeaderMaxBytes = 1 + 1 + 3*binary.MaxVarintLen64
)

var (
	messagesStreamDesc = grpc.StreamDesc{StreamName: messagesStreamName, ClientStreams: true, ServerStreams: true}
	snapshotStreamDesc = grpc.StreamDesc{StreamName: snapshotStreamName, ClientStreams: true, ServerStreams: true}
)

// serviceDescription registers the two streaming methods by hand, so no
// generated code is needed.
func serviceDescription() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: serviceName,
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: infoMethodName, Handler: infoHandler}, {MethodName: queryMethodName, Handler: queryHandler}},
		Streams: []grpc.StreamDesc{
			{
				StreamName:    messagesStreamName,
				Handler:       func(server any, stream grpc.ServerStream) error { return server.(*Transport).receiveMessages(stream) },
				ClientStreams: true, ServerStreams: true,
			},
			{
				StreamName:    snapshotStreamName,
				Handler:       func(server any, stream grpc.ServerStream) error { return server.(*Transport).receiveSnapshot(stream) },
				ClientStreams: true, ServerStreams: true,
			},
		},
	}
}

// rawCodec sends frames ([]byte) as they are: the transport does its own
// encoding, so gRPC needs no protobuf.
type rawCodec struct{}

func (rawCodec) Name() string { return rawCodecName }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	frame, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("transport: raw codec cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(*frame)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	frame, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("transport: raw codec cannot unmarshal into %T", v)
	}
	// Materialize copies: the frame outlives gRPC's buffers, and decoded
	// messages alias it.
	*frame = data.Materialize()
	return nil
}

type streamHeader struct {
	clusterID uint64
	from, to  raft.NodeID
}

func appendStreamHeader(dst []byte, h streamHeader) []byte {
	dst = append(dst, frameHeader, Version)
	dst = binary.AppendUvarint(dst, h.clusterID)
	dst = binary.AppendUvarint(dst, uint64(h.from))
	return binary.AppendUvarint(dst, uint64(h.to))
}

func decodeStreamHeader(frame []byte) (streamHeader, error) {
	r := reader{data: frame}
	if kind := r.byte("frame kind"); r.err == nil && kind != frameHeader {
		return streamHeader{}, malformed("stream begins with frame kind %q, not a header", kind)
	}
	if version := r.byte("version"); r.err == nil && version != Version {
		return streamHeader{}, malformed("unknown stream version %d", version)
	}
	h := streamHeader{clusterID: r.uvarint("cluster ID"), from: raft.NodeID(r.uvarint("sender ID")), to: raft.NodeID(r.uvarint("target ID"))}
	if r.err != nil {
		return streamHeader{}, r.err
	}
	if r.remaining() != 0 {
		return streamHeader{}, malformed("%d trailing bytes after stream header", r.remaining())
	}
	return h, nil
}

func appendSnapshotBegin(dst []byte, m raft.Message) []byte {
	data := m.Snapshot.Data
	return appendSnapshotBeginSized(dst, m, uint64(len(data)), crc32.Checksum(data, castagnoli))
}

// appendSnapshotBeginSized is appendSnapshotBegin for data that is not in
// the message (streamed from a file): its size and CRC-32C are given.
func appendSnapshotBeginSized(dst []byte, m raft.Message, size uint64, checksum uint32) []byte {
	withoutData := *m.Snapshot
	withoutData.Data = nil
	m.Snapshot = &withoutData
	dst = append(dst, frameSnapshotBegin)
	dst = binary.AppendUvarint(dst, size)
	dst = binary.BigEndian.AppendUint32(dst, checksum)
	return AppendMessage(dst, m)
}

func decodeSnapshotBegin(frame []byte, maxMessageBytes int) (m raft.Message, size uint64, checksum uint32, err error) {
	r := reader{data: frame}
	if kind := r.byte("frame kind"); r.err == nil && kind != frameSnapshotBegin {
		return m, 0, 0, malformed("snapshot stream frame kind %q, want begin", kind)
	}
	size = r.uvarint("snapshot size")
	checksum = r.uint32("snapshot checksum")
	if r.err != nil {
		return m, 0, 0, r.err
	}
	m, err = DecodeMessage(frame[r.offset:], maxMessageBytes)
	if err != nil {
		return m, 0, 0, err
	}
	if m.Snapshot == nil || len(m.Snapshot.Data) != 0 {
		return m, 0, 0, malformed("snapshot begin frame without snapshot metadata, or with inline data")
	}
	return m, size, checksum, nil
}

func appendSnapshotChunk(dst []byte, offset uint64, data []byte) []byte {
	dst = append(dst, frameSnapshotChunk)
	dst = binary.AppendUvarint(dst, offset)
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(data, castagnoli))
	return append(dst, data...)
}

func decodeSnapshotChunk(frame []byte) (offset uint64, data []byte, err error) {
	r := reader{data: frame}
	if kind := r.byte("frame kind"); r.err == nil && kind != frameSnapshotChunk {
		return 0, nil, malformed("snapshot stream frame kind %q, want chunk", kind)
	}
	offset = r.uvarint("chunk offset")
	checksum := r.uint32("chunk checksum")
	if r.err != nil {
		return 0, nil, r.err
	}
	data = frame[r.offset:]
	if crc32.Checksum(data, castagnoli) != checksum {
		return 0, nil, malformed("chunk at offset %d: checksum mismatch", offset)
	}
	return offset, data, nil
}
