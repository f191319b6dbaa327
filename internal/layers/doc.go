// Package layers holds no code: its test checks that the packages import
// each other only as docs/architecture.md allows, that the agent links
// neither SSH nor SFTP, and that no package outgrows its room.
package layers
