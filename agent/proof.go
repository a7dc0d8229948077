package agent

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/keeptrusts/kt/ledger"
	"github.com/keeptrusts/kt/queue"
)

// proofRoutes are the tamper-evidence routes of the query API:
//
//	GET /v1/checkpoint   the newest signed checkpoint (a signed note, text/plain)
//	GET /v1/proof/{seq}  the event proof of entry seq (ledger.FormatEventProof, text/plain)
func (d *daemon) proofRoutes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /v1/checkpoint": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			cp := d.led.LatestCheckpoint()
			if cp == nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "no checkpoint yet"})
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write(cp.Note)
		}),
		"GET /v1/proof/{seq}": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("parameter \"seq\": %q is not a seq (a number)", r.PathValue("seq")), "parameter": "seq"})
				return
			}
			doc, code, err := d.eventProof(seq)
			if err != nil {
				writeJSON(w, code, map[string]string{"error": err.Error(), "parameter": "seq"})
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write(doc)
		}),
	}
}

// eventProof returns the event proof of entry seq in the tree of the
// newest checkpoint, or the HTTP status and error that say why not.
func (d *daemon) eventProof(seq uint64) ([]byte, int, error) {
	cp := d.led.LatestCheckpoint()
	if cp == nil || uint64(cp.Size) <= seq {
		if seq < d.led.Size() {
			return nil, http.StatusServiceUnavailable, fmt.Errorf("seq %d is not covered by a signed checkpoint yet; try again in a moment", seq)
		}
		return nil, http.StatusNotFound, fmt.Errorf("no entry with seq %d: the ledger has %d", seq, d.led.Size())
	}
	r, err := d.led.NewReader(seq)
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	defer r.Close()
	it, err := r.Next()
	for err == nil && it.Kind != queue.ItemEntry {
		it, err = r.Next()
	}
	if errors.Is(err, io.EOF) || (err == nil && it.Seq != seq) {
		return nil, http.StatusGone, fmt.Errorf("entry %d was lost in damaged storage (kt damage list): there is nothing to prove", seq)
	}
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	line := append([]byte(nil), it.Line...)
	p, err := d.led.InclusionProof(seq, uint64(cp.Size))
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	return ledger.FormatEventProof(seq, line, p, cp.Note), http.StatusOK, nil
}

// apiRoutes are the query API routes the daemon serves itself.
func (d *daemon) apiRoutes() map[string]http.Handler {
	routes := d.damageRoutes()
	for k, h := range d.proofRoutes() {
		routes[k] = h
	}
	return routes
}
