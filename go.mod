module github.com/lockstepdb/lockstep

go 1.26.8
