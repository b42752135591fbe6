package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// WriteJSONLines writes one JSON object per line for each item (operations,
// fault events, watch events: anything encoding/json accepts).
func WriteJSONLines[Item any](writer io.Writer, items []Item) error {
	buffered := bufio.NewWriter(writer)
	encoder := json.NewEncoder(buffered)
	for index, item := range items {
		if err := encoder.Encode(item); err != nil {
			return fmt.Errorf("history: encode line %d: %w", index+1, err)
		}
	}
	if err := buffered.Flush(); err != nil {
		return fmt.Errorf("history: write lines: %w", err)
	}
	return nil
}

// WriteJSONLinesFile writes items to a new file at path (see WriteJSONLines).
func WriteJSONLinesFile[Item any](path string, items []Item) error {
	file, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if err := WriteJSONLines(file, items); err != nil {
		file.Close()
		return fmt.Errorf("history: %s: %w", path, err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("history: close %s: %w", path, err)
	}
	return nil
}

// ReadJSONLines reads operations written by WriteJSONLines, so a saved
// history can be checked again (for example with a longer timeout).
func ReadJSONLines(reader io.Reader) ([]Operation, error) {
	var operations []Operation
	decoder := json.NewDecoder(reader)
	for {
		var operation Operation
		err := decoder.Decode(&operation)
		if err == io.EOF {
			return operations, nil
		}
		if err != nil {
			return nil, fmt.Errorf("history: decode operation %d: %w", len(operations)+1, err)
		}
		operations = append(operations, operation)
	}
}
