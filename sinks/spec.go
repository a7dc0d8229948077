package sinks

import (
	"log/slog"

	"github.com/hashicorp/hcl/v2"
)

// NewPlugin returns the Plugin of the sink type typ, whose block decode
// reads into a config C (NewDefaultConfig, the block's attributes, every
// problem a diagnostic at its attribute), whose Engine settings delivery
// gives, and whose transport newT makes. A sink package declares
//
//	var Plugin = sinks.NewPlugin(Type, Decode, Config.Delivery, New)
func NewPlugin[C any, T Transport](typ string,
	decode func(name string, body hcl.Body, ctx *hcl.EvalContext) (C, hcl.Diagnostics),
	delivery func(C) Delivery,
	newT func(C, *slog.Logger) (T, error),
) Plugin {
	return Plugin{Type: typ, Decode: func(name string, body hcl.Body, ctx *hcl.EvalContext) (Spec, hcl.Diagnostics) {
		c, diags := decode(name, body, ctx)
		return SpecOf(c, delivery(c), newT), diags
	}}
}

// SpecOf returns the Spec of the sink config c: the Engine's settings d,
// and a New that makes the transport with newT(c, log) (nil, not a typed
// nil, when it fails).
func SpecOf[C any, T Transport](c C, d Delivery, newT func(C, *slog.Logger) (T, error)) Spec {
	return Spec{Config: c, Delivery: d, New: func(log *slog.Logger) (Transport, error) {
		t, err := newT(c, log)
		if err != nil {
			return nil, err
		}
		return t, nil
	}}
}
