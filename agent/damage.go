package agent

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/keeptrusts/kt/queue"
)

// damageRoutes are the query API's endpoints for damage found in the
// ledger's segments:
//
//	GET  /v1/damage           every damage record, acknowledged or not
//	POST /v1/damage/{id}/ack  {"by": "who"}: acknowledge one; the ledger
//	                          appends a ledger.damage_acknowledged entry
//
// `kt damage list` and `kt damage ack` use them.
func (d *daemon) damageRoutes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /v1/damage": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"damage": nonNil(d.led.Damage())})
		}),
		"POST /v1/damage/{id}/ack": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var req struct {
				By string `json:"by"`
			}
			b, err := io.ReadAll(io.LimitReader(r.Body, 4096))
			if err == nil && len(strings.TrimSpace(string(b))) > 0 {
				err = json.Unmarshal(b, &req)
			}
			by := strings.TrimSpace(req.By)
			switch {
			case err != nil:
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: want {\"by\": \"who acknowledges\"}: " + err.Error()})
				return
			case by == "" || len(by) > 200:
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "say who acknowledges the damage: {\"by\": \"alice@example\"} (1 to 200 bytes)"})
				return
			}
			id := r.PathValue("id")
			err = d.led.AckDamage(r.Context(), id, by)
			switch {
			case errors.Is(err, queue.ErrUnknownDamage):
				writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			case err != nil:
				d.log.Error("acknowledging damage", "damage", id, "err", err)
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "acknowledgement not recorded: " + err.Error()})
			default:
				for _, dm := range d.led.Damage() {
					if dm.ID == id {
						writeJSON(w, http.StatusOK, dm)
						return
					}
				}
				writeJSON(w, http.StatusOK, map[string]string{"id": id})
			}
		}),
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
