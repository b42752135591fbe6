package web

import "testing"

// Member IDs show as etcdctl prints them, and no member as nothing.
func TestFormatID(t *testing.T) {
	for id, want := range map[uint64]string{0: "", 1: "1", 0xabc: "abc", 0x8e9e05c52164694d: "8e9e05c52164694d"} {
		if got := FormatID(id); got != want {
			t.Errorf("FormatID(%#x) = %q, want %q", id, got, want)
		}
	}
}
