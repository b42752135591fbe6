package poll

import (
	"testing"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	checks := 0
	Until(t, "the third check", func() bool { checks++; return checks == 3 })
	if checks != 3 {
		t.Fatalf("checked %d times, want 3", checks)
	}
}
