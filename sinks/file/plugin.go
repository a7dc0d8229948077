package file

import "github.com/keeptrusts/kt/sinks"

// Plugin is the file sink type: sink "file" "NAME" { path = ... }.
var Plugin = sinks.NewPlugin(Type, Decode, Config.Delivery, NewTransport)
