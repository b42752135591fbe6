package cluster

import (
	"os"
	"strings"
)

// logTailLines is how much of a member's log an exit report quotes.
const logTailLines = 15

// exitReport describes why the member is not running, for an error: its
// unexpected exits and the end of its log.
func (member *Member) exitReport() string {
	exits := member.UnexpectedExits()
	if len(exits) == 0 {
		return ""
	}
	report := ": " + exits[len(exits)-1]
	if contents, err := os.ReadFile(member.logPath); err == nil {
		lines := strings.Split(strings.TrimRight(string(contents), "\n"), "\n")
		lines = lines[max(0, len(lines)-logTailLines):]
		report += "\n--- end of " + member.logPath + " ---\n" + strings.Join(lines, "\n")
	}
	return report
}
