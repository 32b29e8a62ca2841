package wg

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// uapiSet renders conf as a wireguard-go UAPI "set" operation (the
// cross-platform configuration protocol, wireguard.com/xplatform): keys in
// hex, endpoints as IP literals. endpoints holds the resolved endpoint of
// each peer that has one; a peer missing from it is configured without an
// endpoint (it has to contact us first).
//
// The result holds the private and preshared keys. It goes to IpcSet and
// nowhere else: never into an error, a log line or the report.
func uapiSet(conf *wgconf.Config, endpoints map[wgconf.Key]netip.AddrPort) string {
	var b strings.Builder
	line := func(key, value string) {
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(value)
		b.WriteByte('\n')
	}
	ifc := &conf.Interface
	line("private_key", ifc.PrivateKey.Hex())
	// wg setconf semantics: the file is the whole configuration.
	line("replace_peers", "true")
	if ifc.ListenPort != 0 {
		line("listen_port", strconv.Itoa(ifc.ListenPort))
	}
	if ifc.FwMarkSet || ifc.FwMark != 0 {
		line("fwmark", strconv.FormatUint(uint64(ifc.FwMark), 10))
	}
	for _, p := range conf.Peers {
		line("public_key", p.PublicKey.Hex())
		if p.PresharedKey != nil {
			line("preshared_key", p.PresharedKey.Hex())
		}
		if ap, ok := endpoints[p.PublicKey]; ok && ap.IsValid() {
			line("endpoint", ap.String())
		}
		line("persistent_keepalive_interval", strconv.Itoa(p.PersistentKeepalive))
		line("replace_allowed_ips", "true")
		for _, a := range p.AllowedIPs {
			line("allowed_ip", a.Masked().String())
		}
	}
	return b.String()
}

// deviceState is what a UAPI "get" operation reports, without the keys
// that are secret: the parser reads past private_key and preshared_key
// and keeps neither.
type deviceState struct {
	PublicKey  wgconf.Key // derived by the caller; get reports the private key only
	ListenPort int
	FwMark     uint32
	Peers      []peerState
}

// peerState is one peer in a UAPI "get" answer.
type peerState struct {
	PublicKey     wgconf.Key
	Endpoint      string    // as wireguard-go prints it: ip:port or [ip6]:port; "" when none
	LastHandshake time.Time // zero when there has been none
	RxBytes       uint64
	TxBytes       uint64
	Keepalive     int
	AllowedIPs    []netip.Prefix
}

// parseUAPIGet reads the answer of a UAPI "get" operation (IpcGet). It
// accepts keys it does not know, as the protocol asks of clients, and
// an "errno=" line as the socket protocol ends with. Its errors never
// quote a value: the answer starts with the private key.
func parseUAPIGet(text string) (deviceState, error) {
	var st deviceState
	var peer *peerState
	var hsSec, hsNsec int64
	finishPeer := func() {
		if peer == nil {
			return
		}
		if hsSec != 0 || hsNsec != 0 {
			peer.LastHandshake = time.Unix(hsSec, hsNsec)
		}
		st.Peers = append(st.Peers, *peer)
		peer, hsSec, hsNsec = nil, 0, 0
	}
	for n, raw := range strings.Split(text, "\n") {
		num := n + 1
		if raw == "" {
			continue
		}
		key, value, ok := strings.Cut(raw, "=")
		if !ok {
			return deviceState{}, fmt.Errorf("UAPI get answer line %d: no '=' in a line of %d characters", num, len(raw))
		}
		bad := func(what string) error {
			return fmt.Errorf("UAPI get answer line %d: %s: %s expected", num, key, what)
		}
		switch key {
		case "private_key", "preshared_key":
			// Secret: skipped, never stored, never quoted. A malformed
			// value would only matter if we kept it.
			if peer == nil && key == "preshared_key" {
				return deviceState{}, fmt.Errorf("UAPI get answer line %d: preshared_key before any public_key", num)
			}
			continue
		case "errno":
			e, err := strconv.Atoi(value)
			if err != nil {
				return deviceState{}, bad("a number")
			}
			if e != 0 {
				return deviceState{}, fmt.Errorf("UAPI get failed with errno=%d", e)
			}
			continue
		case "public_key":
			finishPeer()
			k, err := parseHexKey(value)
			if err != nil {
				return deviceState{}, bad("64 hex digits")
			}
			peer = &peerState{PublicKey: k}
			continue
		}
		if peer == nil {
			switch key {
			case "listen_port":
				p, err := strconv.ParseUint(value, 10, 16)
				if err != nil {
					return deviceState{}, bad("a port number")
				}
				st.ListenPort = int(p)
			case "fwmark":
				m, err := strconv.ParseUint(value, 10, 32)
				if err != nil {
					return deviceState{}, bad("a 32-bit number")
				}
				st.FwMark = uint32(m)
			}
			continue
		}
		switch key {
		case "endpoint":
			if _, err := netip.ParseAddrPort(value); err != nil {
				return deviceState{}, bad("ip:port")
			}
			peer.Endpoint = value
		case "last_handshake_time_sec", "last_handshake_time_nsec":
			v, err := strconv.ParseInt(value, 10, 64)
			if err != nil || v < 0 {
				return deviceState{}, bad("a number")
			}
			if key == "last_handshake_time_sec" {
				hsSec = v
			} else {
				hsNsec = v
			}
		case "rx_bytes", "tx_bytes":
			v, err := strconv.ParseUint(value, 10, 64)
			if err != nil {
				return deviceState{}, bad("a number")
			}
			if key == "rx_bytes" {
				peer.RxBytes = v
			} else {
				peer.TxBytes = v
			}
		case "persistent_keepalive_interval":
			v, err := strconv.ParseUint(value, 10, 16)
			if err != nil {
				return deviceState{}, bad("a number of seconds")
			}
			peer.Keepalive = int(v)
		case "allowed_ip":
			p, err := netip.ParsePrefix(value)
			if err != nil {
				return deviceState{}, bad("a prefix")
			}
			peer.AllowedIPs = append(peer.AllowedIPs, p)
		}
	}
	finishPeer()
	return st, nil
}

// parseHexKey reads a key as the UAPI writes it: 64 lowercase hex digits.
func parseHexKey(s string) (wgconf.Key, error) {
	var k wgconf.Key
	if len(s) != 2*len(k) {
		return k, fmt.Errorf("not 64 hex digits")
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return wgconf.Key{}, fmt.Errorf("not 64 hex digits")
	}
	return k, nil
}
