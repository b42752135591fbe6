package web

import (
	"context"
	"net/http"
	"time"
)

// controlTimeout bounds one button's action (a restart opens the store, a
// stop hands leadership over).
const controlTimeout = 15 * time.Second

// controlHandler runs the dashboard's buttons against a Control.
type controlHandler struct{ control Control }

func (c *controlHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), controlTimeout)
	defer cancel()
	if err := c.control.Act(ctx, r.PathValue("action"), r.PathValue("member")); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
