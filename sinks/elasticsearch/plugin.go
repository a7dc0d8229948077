package elasticsearch

import "github.com/keeptrusts/kt/sinks"

// Plugin is the elasticsearch sink type: sink "elasticsearch" "NAME" { addresses = [...] }.
var Plugin = sinks.NewPlugin(Type, Decode, Config.delivery, New)

func (c Config) delivery() sinks.Delivery { return c.Delivery }
