package main

import (
	"fmt"
	"os"

	"github.com/homestaker/homestaker-boot/init/rescue"
)

// sftpServerCommand is `homestaker sftp-server`, which the rescue SSH
// server runs for an SFTP session, as sshd runs its sftp-server: a bug in
// the SFTP library then ends that session, not PID 1.
const sftpServerCommand = "sftp-server"

// sftpServer serves one SFTP session on standard input and output.
func sftpServer() int {
	if err := rescue.ServeSFTP(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "homestaker sftp-server: %v\n", err)
		return 1
	}
	return 0
}
