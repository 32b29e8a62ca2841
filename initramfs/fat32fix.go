package main

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// go-diskfs v1.9.4 writes FAT32 filesystems that fsck.fat faults in three
// ways; this file mends them so the ESP is clean for firmware that is
// picky, and for an operator who checks the stick:
//   - the FAT is sized for the data clusters without its two reserved
//     entries, so for some sizes (64 MiB among them) the last two clusters
//     have no entry;
//   - ".." in a directory of the root names cluster 2, where FAT32 wants 0;
//   - the FSInfo free cluster count is left "unknown".

// createESP makes the ESP's FAT32 filesystem at start, some sectors less
// than size (a filesystem may be smaller than its partition) when that is
// what it takes for the FAT to cover every cluster.
func createESP(d *disk.Disk, start, size int64) (*fat32.FileSystem, error) {
	for shrink := int64(0); shrink < 64; shrink++ {
		esp, err := fat32.Create(d.Backend, size-shrink*sectorSize, start, sectorSize, espLabel, true)
		if err != nil {
			return nil, err
		}
		g, err := readFAT32Geometry(d, start)
		if err != nil {
			return nil, err
		}
		if g.clusters()+2 <= g.sectorsPerFAT*g.bytesPerSector/4 {
			return esp, nil
		}
	}
	return nil, fmt.Errorf("no FAT32 layout of about %d bytes has a FAT entry for every cluster", size)
}

// fat32Geometry is what a FAT32 boot sector says about the layout.
type fat32Geometry struct {
	start                                       int64 // the filesystem's first byte on the disk
	bytesPerSector, sectorsPerCluster, reserved int64
	fats, totalSectors, sectorsPerFAT, fsInfo   int64
	backupBoot                                  int64
	rootCluster                                 uint32
}

func readFAT32Geometry(d *disk.Disk, start int64) (fat32Geometry, error) {
	bs := make([]byte, sectorSize)
	if _, err := d.Backend.ReadAt(bs, start); err != nil {
		return fat32Geometry{}, err
	}
	g := fat32Geometry{
		start:             start,
		bytesPerSector:    int64(binary.LittleEndian.Uint16(bs[0x0b:])),
		sectorsPerCluster: int64(bs[0x0d]),
		reserved:          int64(binary.LittleEndian.Uint16(bs[0x0e:])),
		fats:              int64(bs[0x10]),
		totalSectors:      int64(binary.LittleEndian.Uint32(bs[0x20:])),
		sectorsPerFAT:     int64(binary.LittleEndian.Uint32(bs[0x24:])),
		rootCluster:       binary.LittleEndian.Uint32(bs[0x2c:]),
		fsInfo:            int64(binary.LittleEndian.Uint16(bs[0x30:])),
		backupBoot:        int64(binary.LittleEndian.Uint16(bs[0x32:])),
	}
	if g.bytesPerSector == 0 || g.sectorsPerCluster == 0 || g.fats == 0 {
		return g, fmt.Errorf("not a FAT32 boot sector at byte %d", start)
	}
	return g, nil
}

func (g fat32Geometry) clusterBytes() int64 { return g.bytesPerSector * g.sectorsPerCluster }

func (g fat32Geometry) dataStart() int64 {
	return g.start + (g.reserved+g.fats*g.sectorsPerFAT)*g.bytesPerSector
}

func (g fat32Geometry) clusters() int64 {
	return (g.totalSectors - g.reserved - g.fats*g.sectorsPerFAT) / g.sectorsPerCluster
}

func (g fat32Geometry) clusterOffset(c uint32) int64 {
	return g.dataStart() + int64(c-2)*g.clusterBytes()
}

// finishFAT32 mends ".." and FSInfo once every file is written (go-diskfs
// rewrites FSInfo on each write).
func finishFAT32(d *disk.Disk, start int64) error {
	g, err := readFAT32Geometry(d, start)
	if err != nil {
		return err
	}
	w, err := d.Backend.Writable()
	if err != nil {
		return err
	}
	fat := make([]byte, g.sectorsPerFAT*g.bytesPerSector)
	if _, err := d.Backend.ReadAt(fat, g.start+g.reserved*g.bytesPerSector); err != nil {
		return err
	}
	next := func(c uint32) uint32 { return binary.LittleEndian.Uint32(fat[4*int64(c):]) & 0x0fffffff }

	// The root's directories, and in the first cluster of each, "..".
	cluster := make([]byte, g.clusterBytes())
	dotdot := []byte("..         ")
	for c := g.rootCluster; c >= 2 && c < 0x0ffffff8; c = next(c) {
		if _, err := d.Backend.ReadAt(cluster, g.clusterOffset(c)); err != nil {
			return err
		}
		for e := 0; e+32 <= len(cluster) && cluster[e] != 0; e += 32 {
			ent := cluster[e : e+32]
			attr := ent[11]
			if ent[0] == 0xe5 || ent[0] == '.' || attr == 0x0f || attr&0x10 == 0 {
				continue
			}
			sub := uint32(binary.LittleEndian.Uint16(ent[20:]))<<16 | uint32(binary.LittleEndian.Uint16(ent[26:]))
			dots := make([]byte, 64)
			if _, err := d.Backend.ReadAt(dots, g.clusterOffset(sub)); err != nil {
				return err
			}
			if !bytes.Equal(dots[32:43], dotdot) {
				return fmt.Errorf("directory at cluster %d: no \"..\" in the second slot", sub)
			}
			if _, err := w.WriteAt([]byte{0, 0}, g.clusterOffset(sub)+32+20); err != nil {
				return err
			}
			if _, err := w.WriteAt([]byte{0, 0}, g.clusterOffset(sub)+32+26); err != nil {
				return err
			}
		}
	}

	// FSInfo: free clusters and the first free one, in the primary and
	// the backup.
	var free, firstFree uint32 = 0, 0xffffffff
	for c := uint32(2); int64(c) < g.clusters()+2; c++ {
		if next(c) == 0 {
			free++
			firstFree = min(firstFree, c)
		}
	}
	counts := binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, free), firstFree)
	for _, sector := range []int64{g.fsInfo, g.backupBoot + g.fsInfo} {
		off := g.start + sector*g.bytesPerSector
		sig := make([]byte, 4)
		if _, err := d.Backend.ReadAt(sig, off); err != nil {
			return err
		}
		if string(sig) != "RRaA" {
			continue
		}
		if _, err := w.WriteAt(counts, off+488); err != nil {
			return err
		}
	}
	return nil
}
