package wg

import (
	"fmt"
	"net/netip"

	"golang.zx2c4.com/wireguard/device"

	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// This file is the thin layer over a wireguard-go device, whatever its TUN:
// a kernel TUN in Up, a netstack one in the tests.

// configureDevice sets dev up from conf through the UAPI. The UAPI text
// holds the keys: an error from wireguard-go may quote it, so what comes
// back is redacted and does not wrap the original.
func configureDevice(dev *device.Device, conf *wgconf.Config, endpoints map[wgconf.Key]netip.AddrPort) error {
	return ipcSet(dev, conf.Name, uapiSet(conf, endpoints))
}

// ipcSet runs a UAPI set operation whose text holds secrets.
func ipcSet(dev *device.Device, name, text string) error {
	if err := dev.IpcSet(text); err != nil {
		return fmt.Errorf("configuring %s through the WireGuard UAPI: %s", name, wgconf.Redact(err.Error()))
	}
	return nil
}

// readDevice reads dev's state through the UAPI, without its keys.
func readDevice(dev *device.Device, name string) (deviceState, error) {
	text, err := dev.IpcGet()
	if err != nil {
		return deviceState{}, fmt.Errorf("reading the state of %s through the WireGuard UAPI: %s", name, wgconf.Redact(err.Error()))
	}
	st, err := parseUAPIGet(text)
	if err != nil {
		return deviceState{}, fmt.Errorf("reading the state of %s: %v", name, err)
	}
	return st, nil
}

// startHandshakes makes dev initiate a handshake with each of the peers
// that has no session yet. WireGuard handshakes only when it has a packet
// to send; a keepalive is one. wireguard-go sends at most one initiation
// per peer every 5 seconds and retransmits on its own, so calling this
// again is cheap; it matters when the TUN went down and up (a kernel TUN
// reports its link state) and dropped the staged keepalive.
func startHandshakes(dev *device.Device, keys []wgconf.Key) {
	for _, k := range keys {
		if p := dev.LookupPeer(device.NoisePublicKey(k)); p != nil {
			p.SendKeepalive()
		}
	}
}
