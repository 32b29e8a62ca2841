package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/hostkey"
	"github.com/homestaker/homestaker-boot/init/secrets"
	"github.com/homestaker/homestaker-boot/init/storage"
)

const (
	prepareSynopsis = "[--force] [--rotate] [--fs btrfs|ext4|xfs] [--label L] [--layout legacy|current] [--subvols a,b,c] " +
		"[--wg-address PREFIX[,PREFIX] --wg-peer-public-key KEY [--wg-endpoint HOST:PORT] [--wg-allowed-ips PREFIX[,...]] " +
		"[--wg-keepalive N] [--wg-listen-port N]] DEVICE"
	prepareAbout = `Formats DEVICE (a block device, or an image file) as the HomestakerOS
volume, creates the names of --subvols and writes the secrets where the
init reads them: wg0.conf (from the --wg flags), the Engine API JWT and the
SSH host key. It then runs the init's checks and prints the public values
to copy elsewhere; it never prints a private key or the JWT.

--fs btrfs, the default and the recommendation, makes the names Btrfs
subvolumes, each mounted on its own, and only Btrfs can snapshot the client
data before an update. --fs ext4 or xfs makes them plain directories, as
HomestakerOS's guide does (mkfs.ext4 -L homestaker, mkdir secrets erigon
lighthouse); the init then mounts the whole volume at homestaker.mnt.

DEVICE is refused when it is mounted or otherwise in use (always), and when
it holds a partition table or a filesystem signature other than a --fs
filesystem labelled L, as this program or util-linux's wipefs(8) sees them
(unless --force). A filesystem of that type labelled L is not formatted
again: the missing subvolumes or directories and secrets are added, what is
there is kept, and existing secrets are kept unless --rotate.

exit status: 0 prepared and every check passes (warnings allowed), 1 DEVICE
refused, a step failed or a check failed, 2 wrong usage`
)

var prepareArgNames = map[string]string{
	"fs": "btrfs|ext4|xfs", "label": "L", "layout": "legacy|current", "subvols": "a,b,c",
	"wg-address": "PREFIX[,PREFIX]", "wg-peer-public-key": "KEY", "wg-endpoint": "HOST:PORT",
	"wg-allowed-ips": "PREFIX[,...]", "wg-keepalive": "N", "wg-listen-port": "N",
}

// prepareOptions are prepare's flags and argument, checked.
type prepareOptions struct {
	device        string
	wipefs        string // util-linux's wipefs (host.wipefs)
	force, rotate bool
	fs            *filesystem
	label         string
	layout        string
	subvols       []string
	wg            wgFlags
	wgValues      *wgValues
}

func parsePrepareArgs(args []string, stdout, stderr io.Writer) (*prepareOptions, int) {
	defaults := config.Defaults()
	o := &prepareOptions{}
	fs := newFlagSet("prepare")
	fs.BoolVar(&o.force, "force", false, "format DEVICE even when it holds a partition table or another filesystem (never when it is in use)")
	fs.BoolVar(&o.rotate, "rotate", false, "replace the existing secrets: a new JWT in every copy, a new WireGuard key pair and a new SSH host key;\n"+
		"the --wg flags given replace those values of the existing wg0.conf, the others are kept")
	fsName := fs.String("fs", storage.FSBtrfs, "the filesystem: btrfs (the default and the recommendation: subvolumes, and of the three the only one\n"+
		"that can snapshot the client data before an update), "+
		"ext4 or xfs (directories, as HomestakerOS's guide makes them; no snapshots)")
	fs.StringVar(&o.label, "label", defaults.Label, "the label the init looks for (homestaker.label); at most "+labelLimits())
	fs.StringVar(&o.layout, "layout", "legacy", "where the secrets go: legacy (the getting-started guide's: secrets/wireguard/wg0.conf,\n"+
		"jwt.hex in each client subvolume) or current (secrets/wg0.conf, secrets/jwt.hex)")
	subvols := fs.String("subvols", strings.Join(defaults.Subvols, ","), "the subvolumes (btrfs) or directories (ext4, xfs) to create (homestaker.subvols), the secrets one first")
	fs.StringVar(&o.wg.Address, "wg-address", "", "this node's tunnel address(es), e.g. 10.8.0.2/24 (wg0.conf Address); needed for a wg0.conf")
	fs.StringVar(&o.wg.PeerKey, "wg-peer-public-key", "", "the other side's public key, base64 as wg pubkey prints it; needed for a wg0.conf")
	fs.StringVar(&o.wg.Endpoint, "wg-endpoint", "", "where the other side listens, HOST:PORT or [IPv6]:PORT (leave out when it contacts this node)")
	fs.StringVar(&o.wg.AllowedIPs, "wg-allowed-ips", "", "the networks reached through the other side, comma-separated (default: the networks of --wg-address)")
	fs.IntVar(&o.wg.Keepalive, "wg-keepalive", 0, "PersistentKeepalive in seconds, e.g. 25 behind NAT (0: off)")
	fs.IntVar(&o.wg.ListenPort, "wg-listen-port", 0, "this node's UDP port (default: a random one)")
	if code := parseFlags(fs, usageText{prepareSynopsis, prepareAbout, prepareArgNames}, args, stdout, stderr); code >= 0 {
		return nil, code
	}
	fail := func(err error) (*prepareOptions, int) {
		return nil, usageFailed(stderr, "prepare", prepareSynopsis, err)
	}
	switch fs.NArg() {
	case 0:
		return fail(errors.New("DEVICE is missing: give the block device or image file to prepare"))
	case 1:
	default:
		return fail(fmt.Errorf("one DEVICE expected, got %q (flags go before DEVICE)", fs.Args()))
	}
	o.device = fs.Arg(0)
	if o.layout != "legacy" && o.layout != "current" {
		return fail(fmt.Errorf("--layout %q: legacy or current expected", o.layout))
	}
	var err error
	if o.fs, err = filesystemNamed(*fsName); err != nil {
		return fail(err)
	}
	if _, err := bootParam("homestaker.label", o.label); err != nil {
		return fail(fmt.Errorf("--label %q: %v", o.label, err))
	}
	if err := o.fs.checkLabel(o.label); err != nil {
		return fail(err)
	}
	cfg, err := bootParam("homestaker.subvols", *subvols)
	if err != nil {
		return fail(fmt.Errorf("--subvols %q: %v", *subvols, err))
	}
	o.subvols = cfg.Subvols
	o.wg.set = setFlags(fs)
	if o.wgValues, err = parseWGFlags(&o.wg); err != nil {
		return fail(err)
	}
	// Without --rotate the flags alone make the file, so they must be
	// complete; with it, an existing file may fill in the rest.
	if o.wg.given() && !o.rotate {
		for _, need := range []string{"wg-address", "wg-peer-public-key"} {
			if !o.wg.set[need] {
				return fail(fmt.Errorf("--%s is needed with the other --wg flags: a wg0.conf needs --wg-address and --wg-peer-public-key", need))
			}
		}
	}
	return o, -1
}

func runPrepare(h *host, args []string, stdout, stderr io.Writer) int {
	o, code := parsePrepareArgs(args, stdout, stderr)
	if code >= 0 {
		return code
	}
	o.wipefs = h.wipefs
	res, err := prepare(o, stdout)
	if res != nil {
		res.print(stdout)
	}
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			return usageFailed(stderr, "prepare", prepareSynopsis, err)
		}
		fmt.Fprintf(stderr, "homestaker prepare: %v\n", err)
		return exitCheck
	}
	if anyFailed(res.checks) {
		return exitCheck
	}
	return exitOK
}

// prepareResult is what prepare found after writing: the checks and the
// public values the operator copies elsewhere.
type prepareResult struct {
	checks      []secrets.Check
	wgPublicKey string
	wgAddresses []string
	sshPub      string // "ssh-ed25519 AAAA..."
	sshFP       string
	notice      string // what the operator should know about the filesystem, or ""
}

func (r *prepareResult) print(w io.Writer) {
	fmt.Fprintln(w, "\nchecks (as the init runs them at boot):")
	printChecks(w, r.checks)
	fmt.Fprintln(w, "\npublic values to copy elsewhere (none of them is secret):")
	if r.wgPublicKey != "" {
		fmt.Fprintf(w, "  WireGuard public key, for this node's [Peer] PublicKey on the other side:\n    %s\n", r.wgPublicKey)
		if len(r.wgAddresses) > 0 {
			fmt.Fprintf(w, "  and its AllowedIPs there:\n    %s\n", strings.Join(r.wgAddresses, ", "))
		}
	}
	if r.sshPub != "" {
		host := "HOST"
		if len(r.wgAddresses) > 0 {
			host = strings.SplitN(r.wgAddresses[0], "/", 2)[0]
		}
		fmt.Fprintf(w, "  SSH host key, for ~/.ssh/known_hosts of the machines that log in:\n    %s %s\n", host, r.sshPub)
		fmt.Fprintf(w, "  SSH host key fingerprint (ssh shows it on the first connection):\n    %s\n", r.sshFP)
	}
	if r.notice != "" {
		fmt.Fprintf(w, "\n%s\n", r.notice)
	}
}

// prepare does the work. Once the volume is mounted it always unmounts it
// (and detaches the loop device) before returning; a failure to do so is
// returned with the result.
func prepare(o *prepareOptions, out io.Writer) (res *prepareResult, err error) {
	st, err := os.Stat(o.device)
	if err != nil {
		return nil, usagef("DEVICE %v (an image file must exist first: truncate -s 2T FILE makes a sparse one)", err)
	}
	image := st.Mode().IsRegular()
	if !image && (st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0) {
		return nil, usagef("DEVICE %s is a %s, neither a block device nor a regular (image) file", o.device, st.Mode().Type())
	}
	why, err := inUse(o.device, st)
	if err != nil {
		return nil, err
	}
	if len(why) > 0 {
		return nil, fmt.Errorf("refusing %s: %s; unmount or release it first (--force does not override this: formatting a device in use corrupts it under its user)",
			o.device, strings.Join(why, "; "))
	}

	flags := os.O_RDONLY
	if !image {
		flags |= unix.O_EXCL // the kernel refuses while anything holds the device
	}
	f, err := os.OpenFile(o.device, flags, 0)
	if errors.Is(err, unix.EBUSY) {
		return nil, fmt.Errorf("refusing %s: the kernel says it is in use (mounted, swap, md RAID or device-mapper); release it first (--force does not override this)", o.device)
	} else if err != nil {
		return nil, err
	}
	size, _ := f.Seek(0, io.SeekEnd)
	sigs, blind, err := allSignatures(f, o.device, o.wipefs)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", o.device, err)
	}
	kind := "block device"
	if image {
		kind = "image file"
	}
	fmt.Fprintf(out, "%s: %s of %s\n", o.device, kind, humanSize(size))
	if blind != nil {
		if !o.force {
			return nil, fmt.Errorf("refusing %s: %v; formatting over a signature this program cannot see would destroy it. --force goes on with its own probe alone", o.device, blind)
		}
		fmt.Fprintf(out, "--force: going on with this program's own probe alone: %v\n", blind)
	}

	switch decide(sigs, o.label, o.fs) {
	case reuseVolume:
		fmt.Fprintf(out, "%s holds %s: not formatting it; adding what is missing\n", o.device, describeSignatures(sigs))
		// The storage stage's reader must find the label too: it is
		// what the init will look for.
		if label, _, err := o.fs.readLabel(o.device); err != nil {
			return nil, fmt.Errorf("refusing %s: reading its %s superblock as the init does: %v", o.device, o.fs.name, err)
		} else if label != o.label {
			return nil, fmt.Errorf("refusing %s: its %s superblock says the label is %q, not %q", o.device, o.fs.name, label, o.label)
		}
	case otherType:
		there := filesystemOf(sigs[0])
		if !o.force {
			return nil, fmt.Errorf("refusing %s: it holds %s, and --fs is %s (btrfs unless given). To keep it and add what is missing, run prepare --fs %s; "+
				"--force formats it as %s, destroying what it holds", o.device, describeSignatures(sigs), o.fs.name, there.name, o.fs.name)
		}
		fmt.Fprintf(out, "--force: formatting %s as %s\n", describeSignatures(sigs), o.fs.name)
		if err := format(o, out); err != nil {
			return nil, err
		}
	case refuseDevice:
		if !o.force {
			return nil, fmt.Errorf("refusing %s: it holds %s; formatting would destroy it. Check that this is the right device; --force formats it anyway",
				o.device, describeSignatures(sigs))
		}
		fmt.Fprintf(out, "--force: formatting over %s\n", describeSignatures(sigs))
		if err := format(o, out); err != nil {
			return nil, err
		}
	case formatDevice:
		fmt.Fprintf(out, "%s holds no partition table or filesystem signature\n", o.device)
		if err := format(o, out); err != nil {
			return nil, err
		}
	}

	top, err := mountTopLevel(o.device, image, o.fs)
	if err != nil {
		return nil, err
	}
	defer func() {
		cerr := top.Close()
		if cerr == nil {
			fmt.Fprintf(out, "unmounted %s", top.Dev)
			if top.loop != nil {
				fmt.Fprintf(out, " and detached it")
			}
			fmt.Fprintln(out)
		}
		err = errors.Join(err, cerr)
	}()
	if top.loop != nil {
		fmt.Fprintf(out, "attached %s to %s\n", o.device, top.Dev)
	}
	fmt.Fprintf(out, "mounted %s at %s\n", top, top.Dir)
	return fill(o, top.Dir, out)
}

// format makes the filesystem --fs asks for on the device and verifies
// with the storage stage's superblock reader that the init will find it
// by its label.
func format(o *prepareOptions, out io.Writer) error {
	fmt.Fprintf(out, "formatting: %s %s\n", o.fs.mkfs, strings.Join(o.fs.mkfsArgs(o.device, o.label, o.force), " "))
	if err := o.fs.format(o.device, o.label, o.force); err != nil {
		return err
	}
	label, id, err := o.fs.readLabel(o.device)
	if err != nil {
		return fmt.Errorf("after %s: %v", o.fs.mkfs, err)
	}
	if label != o.label {
		return fmt.Errorf("after %s: the label is %q, not %q", o.fs.mkfs, label, o.label)
	}
	fmt.Fprintf(out, "formatted: %s %q, %s\n", o.fs.name, label, id)
	return nil
}

// fill creates the subvolumes and the secrets in the mounted top level,
// then checks the result with the init's checks.
func fill(o *prepareOptions, dir string, out io.Writer) (*prepareResult, error) {
	kind := o.fs.nameKind()
	for i, name := range o.subvols {
		mode := os.FileMode(0o755)
		if i == 0 {
			mode = 0o700 // only root reads the secrets
		}
		created, err := o.fs.ensureName(dir, name, mode)
		if err != nil {
			return nil, err
		}
		if created {
			fmt.Fprintf(out, "%s %s: created (mode %04o)\n", kind, name, mode)
		} else {
			fmt.Fprintf(out, "%s %s: kept\n", kind, name)
		}
	}

	// wg0.conf first: it is the one that can still fail on the flags
	// (--rotate with too few of them), and should then leave the rest
	// as it was.
	w := &secretWriter{top: dir, subvols: o.subvols, layout: o.layout, rotate: o.rotate, out: out}
	hasWG, err := w.writeWireGuard(&o.wg, o.wgValues)
	if err != nil {
		return nil, err
	}
	if err := w.writeJWT(); err != nil {
		return nil, err
	}
	if err := w.writeHostKey(); err != nil {
		return nil, err
	}

	r := secrets.CheckVolume(dir, secrets.Options{Subvols: o.subvols, WGNeeded: hasWG})
	res := &prepareResult{checks: r.Checks, notice: o.fs.snapshotNotice()}
	if r.WG != nil {
		res.wgPublicKey = r.WG.PublicKey().String()
		for _, a := range r.WG.Interface.Addresses {
			res.wgAddresses = append(res.wgAddresses, a.Addr().String()+"/"+fmt.Sprint(a.Addr().BitLen()))
		}
	}
	if data, err := os.ReadFile(filepath.Join(dir, o.subvols[0], secrets.HostKey)); err == nil {
		if _, pub, err := hostkey.Parse(data); err == nil {
			res.sshPub = strings.TrimSpace(string(hostkey.AuthorizedKey(pub, "")))
			res.sshFP = hostkey.Fingerprint(pub)
		}
	}
	return res, nil
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}
