// Package sdnotify tells systemd about the service's state (sd_notify), so a
// unit with Type=notify is "started" only once kt takes input.
package sdnotify

import (
	"net"
	"os"
)

// Notify sends state (e.g. "READY=1", "STOPPING=1") to $NOTIFY_SOCKET. It
// does nothing and returns nil when kt does not run under systemd.
func Notify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
