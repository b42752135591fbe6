package stack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The machine's image, in a snapshot and in the durable machine's file, is
// its applied sequence as (uvarint index, uvarint length, command)
// records, oldest first. One codec serves both, so that a state saved by
// one kind of machine restores into the other.

var errBadImage = errors.New("stack: malformed state machine image")

// encodeSequence returns the image of sequence.
func encodeSequence(sequence []appliedCommand) []byte {
	var image []byte
	for _, c := range sequence {
		image = binary.AppendUvarint(image, c.index)
		image = binary.AppendUvarint(image, uint64(len(c.command)))
		image = append(image, c.command...)
	}
	return image
}

// decodeSequence parses an image; a malformed one is errBadImage.
func decodeSequence(data []byte) ([]appliedCommand, error) {
	var sequence []appliedCommand
	for len(data) > 0 {
		index, size := binary.Uvarint(data)
		if size <= 0 {
			return nil, fmt.Errorf("%w: bad index", errBadImage)
		}
		data = data[size:]
		length, size := binary.Uvarint(data)
		if size <= 0 || length > uint64(len(data)-size) {
			return nil, fmt.Errorf("%w: bad command length", errBadImage)
		}
		data = data[size:]
		sequence = append(sequence, appliedCommand{index: index, command: string(data[:length])})
		data = data[length:]
	}
	return sequence, nil
}

// readImage reads and decodes a whole image.
func readImage(image io.Reader) ([]appliedCommand, error) {
	data, err := io.ReadAll(image)
	if err != nil {
		return nil, fmt.Errorf("stack: read image: %w", err)
	}
	return decodeSequence(data)
}
