"""Support mailbox integration: mail sent to help@impactlink.org, read over IMAP."""
