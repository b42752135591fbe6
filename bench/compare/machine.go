package main

import (
	"os"
	"runtime"
	"strconv"
	"strings"
)

// machine describes the computer a run happened on.
type machine struct {
	CPU         string `json:"cpu"`
	Cores       int    `json:"cores"`
	MemoryBytes int64  `json:"memory_bytes"`
	Kernel      string `json:"kernel"`
	Go          string `json:"go"`
}

// describeMachine reads the processor model, memory and kernel from /proc
// (left empty where unreadable: the report says "unknown").
func describeMachine() machine {
	description := machine{Cores: runtime.NumCPU(), Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if cpuinfo, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		description.CPU = procField(string(cpuinfo), "model name")
	}
	if meminfo, err := os.ReadFile("/proc/meminfo"); err == nil {
		fields := strings.Fields(procField(string(meminfo), "MemTotal"))
		if len(fields) == 2 && fields[1] == "kB" {
			if kilobytes, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
				description.MemoryBytes = kilobytes * 1024
			}
		}
	}
	if release, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		description.Kernel = "Linux " + strings.TrimSpace(string(release))
	}
	return description
}

// procField returns the value of the first "name: value" line of a /proc
// file.
func procField(content, name string) string {
	for line := range strings.Lines(content) {
		key, value, found := strings.Cut(line, ":")
		if found && strings.TrimSpace(key) == name {
			return strings.TrimSpace(value)
		}
	}
	return ""
}
