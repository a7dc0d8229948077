package splunkhec

import "github.com/keeptrusts/kt/sinks"

// Plugin is the splunk_hec sink type: sink "splunk_hec" "NAME" { endpoint = ... }.
var Plugin = sinks.NewPlugin(Type, Decode, Config.delivery, New)

func (c Config) delivery() sinks.Delivery { return c.Delivery }
