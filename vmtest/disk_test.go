package vmtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hugelgupf/vmtest/qemu"
)

// Disk is a volume image made by `homestaker prepare`, as an operator
// would make it.
type Disk struct {
	t    testing.TB
	Path string
	// Members are the other images of a multi-device volume; Edit
	// attaches and registers them first.
	Members []string
	// Degraded mounts the volume with a member missing (one was damaged
	// on purpose).
	Degraded bool
}

// wgPeer is a public key for the tunnel's far end in test disks.
const wgPeer = "fE/wdxzl0klVp/IR8UcaoGUMjqaWi3jAd7KzHKFS6Ds="

// disks are the disks each test made, by test name, so every boot can be
// checked for leaked secrets.
var disks struct {
	sync.Mutex
	byTest map[string][]*Disk
}

// disksFor returns the disks made by the test called name or a parent.
func disksFor(name string) []*Disk {
	disks.Lock()
	defer disks.Unlock()
	var out []*Disk
	for test, ds := range disks.byTest {
		if name == test || strings.HasPrefix(name, test+"/") {
			out = append(out, ds...)
		}
	}
	return out
}

// PrepareDisk makes a sparse 256 MiB image and runs `homestaker prepare`
// on it.
func PrepareDisk(t testing.TB, args ...string) *Disk {
	t.Helper()
	return PrepareDiskSize(t, 256<<20, args...)
}

// PrepareDiskSize is PrepareDisk with an image of size bytes.
func PrepareDiskSize(t testing.TB, size int64, args ...string) *Disk {
	t.Helper()
	d := &Disk{t: t, Path: filepath.Join(t.TempDir(), "disk.img")}
	disks.Lock()
	if disks.byTest == nil {
		disks.byTest = map[string][]*Disk{}
	}
	disks.byTest[t.Name()] = append(disks.byTest[t.Name()], d)
	disks.Unlock()
	if err := os.WriteFile(d.Path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(d.Path, size); err != nil {
		t.Fatal(err)
	}
	d.Prepare(args...)
	return d
}

// Prepare runs `homestaker prepare ARGS DISK` and fails the test on error.
func (d *Disk) Prepare(args ...string) string {
	d.t.Helper()
	cmd := exec.Command(bench.cli, append(append([]string{"prepare"}, args...), d.Path)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		d.t.Fatalf("homestaker prepare %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// WithTunnel are prepare's flags for a wg0.conf whose peer never answers.
var WithTunnel = []string{"--wg-address", "10.99.0.2/32", "--wg-peer-public-key", wgPeer, "--wg-endpoint", "10.0.2.2:51820", "--wg-allowed-ips", "10.99.0.0/24"}

// Edit mounts the image's top level on the host, calls fn with the mount
// point and unmounts it.
func (d *Disk) Edit(fn func(top string)) {
	d.t.Helper()
	dir := d.t.TempDir()
	for _, m := range d.Members {
		loop, err := exec.Command("losetup", "-f", "--show", m).Output()
		if err != nil {
			d.t.Fatalf("losetup %s: %v", m, err)
		}
		dev := strings.TrimSpace(string(loop))
		defer exec.Command("losetup", "-d", dev).Run()
		// After the unmount, before the detach: let the host kernel forget
		// the member.
		defer exec.Command("btrfs", "device", "scan", "--forget", dev).Run()
		if out, err := exec.Command("btrfs", "device", "scan", dev).CombinedOutput(); err != nil {
			d.t.Fatalf("btrfs device scan %s: %v\n%s", dev, err, out)
		}
	}
	opts := "loop"
	if d.Degraded {
		opts += ",degraded"
	}
	if out, err := exec.Command("mount", "-o", opts, d.Path, dir).CombinedOutput(); err != nil {
		d.t.Fatalf("mounting %s: %v\n%s", d.Path, err, out)
	}
	defer func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			d.t.Errorf("unmounting %s: %v\n%s", dir, err, out)
		}
	}()
	fn(dir)
}

// Secrets returns every secret value on the disk, line by line, so a test
// can check that none reached the console.
func (d *Disk) Secrets() []string {
	d.t.Helper()
	var out []string
	d.Edit(func(top string) {
		_ = filepath.Walk(top, func(p string, fi os.FileInfo, err error) error {
			if err != nil || !fi.Mode().IsRegular() {
				return nil
			}
			name := filepath.Base(p)
			if name != "jwt.hex" && name != "wg0.conf" && name != "id_ed25519" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, line := range strings.Split(string(b), "\n") {
				line = strings.TrimSpace(line)
				if k, v, ok := strings.Cut(line, "="); ok && name == "wg0.conf" {
					if !strings.EqualFold(strings.TrimSpace(k), "PrivateKey") && !strings.EqualFold(strings.TrimSpace(k), "PresharedKey") {
						continue
					}
					line = strings.TrimSpace(v)
				}
				if strings.HasPrefix(line, "-----") || len(line) < 16 {
					continue
				}
				out = append(out, strings.TrimPrefix(line, "0x"))
			}
			return nil
		})
	})
	if len(out) == 0 {
		d.t.Fatal("found no secrets on the disk to look for")
	}
	return out
}

// WriteFile writes a file on the volume (path relative to its top level).
func (d *Disk) WriteFile(rel, data string, mode os.FileMode) {
	d.t.Helper()
	d.Edit(func(top string) {
		p := filepath.Join(top, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			d.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			d.t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			d.t.Fatal(err)
		}
	})
}

// Remove deletes a file on the volume.
func (d *Disk) Remove(rel string) {
	d.t.Helper()
	d.Edit(func(top string) {
		if err := os.Remove(filepath.Join(top, rel)); err != nil {
			d.t.Fatal(err)
		}
	})
}

// ReadFile reads a file on the volume.
func (d *Disk) ReadFile(rel string) string {
	d.t.Helper()
	var b []byte
	d.Edit(func(top string) {
		var err error
		if b, err = os.ReadFile(filepath.Join(top, rel)); err != nil {
			d.t.Fatal(err)
		}
	})
	return string(b)
}

// Drive attaches image files as virtio disks.
func Drive(paths ...string) qemu.Fn {
	var args []string
	for _, p := range paths {
		// QEMU reads ",," as a comma inside an option value.
		args = append(args, "-drive", "file="+strings.ReplaceAll(p, ",", ",,")+",if=virtio,format=raw")
	}
	return qemu.ArbitraryArgs(args...)
}

// DriveOn attaches the image file at path as a disk behind a QEMU storage
// controller instead of virtio: hba is the controller's device
// (megasas-gen2, mptsas1068, pvscsi: SCSI HBAs with a scsi-hd disk;
// ich9-ahci: a SATA controller with an ide-hd disk on its first port).
// The guest needs the controller's driver and finds no virtio disk.
func DriveOn(hba, path string) qemu.Fn {
	disk := "scsi-hd,drive=d0,bus=hba.0"
	if hba == "ich9-ahci" {
		disk = "ide-hd,drive=d0,bus=hba.0"
	}
	return qemu.ArbitraryArgs(
		"-device", hba+",id=hba",
		"-drive", "if=none,id=d0,format=raw,file="+strings.ReplaceAll(path, ",", ",,"),
		"-device", disk)
}

// AssertNoSecrets fails the test when any secret value is in the serial
// log.
func (v *VM) AssertNoSecrets(secrets []string) {
	v.t.Helper()
	var log bytes.Buffer
	for _, l := range v.Lines() {
		log.WriteString(l.Text + "\n")
	}
	for _, s := range secrets {
		if strings.Contains(log.String(), s) {
			v.t.Errorf("the console showed a secret value from the disk (%d characters)", len(s))
		}
	}
}
