//! The SFTP subsystem: a virtual tree per researcher, never the host's file system.
//!
//! ```text
//! /released/<request-id>/<file>   read-only: the frozen bytes of released files
//! /inbox/<name>                   read-write: job modules to submit with --module inbox/NAME
//! ```
//!
//! Invariant: every path is parsed into a `Node` before anything is looked up; there is no
//! other way to name a file, so `..`, absolute host paths and links lead nowhere.
//! Invariant: every released file read goes through `Service::download` (policy + audit);
//! every upload and removal through the inbox service (audit).

use std::collections::HashMap;

use russh_sftp::protocol::{
    Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version,
};
use russh_sftp::server::StatusReply;

use crate::service::{Caller, Service, ServiceError};

/// A path in the virtual tree.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Root,
    Released,
    Request(String),
    ReleasedFile(String, String),
    Inbox,
    InboxFile(String),
}

impl Node {
    /// Parses an SFTP path (absolute or relative to `/`), resolving `.` and `..`.
    fn parse(path: &str) -> Option<Node> {
        let mut parts: Vec<&str> = Vec::new();
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        match parts.as_slice() {
            [] => Some(Node::Root),
            ["released"] => Some(Node::Released),
            ["released", id] => Some(Node::Request((*id).to_owned())),
            ["released", id, file] => {
                Some(Node::ReleasedFile((*id).to_owned(), (*file).to_owned()))
            }
            ["inbox"] => Some(Node::Inbox),
            ["inbox", name] => Some(Node::InboxFile((*name).to_owned())),
            _ => None,
        }
    }

    fn path(&self) -> String {
        match self {
            Node::Root => "/".into(),
            Node::Released => "/released".into(),
            Node::Request(id) => format!("/released/{id}"),
            Node::ReleasedFile(id, file) => format!("/released/{id}/{file}"),
            Node::Inbox => "/inbox".into(),
            Node::InboxFile(name) => format!("/inbox/{name}"),
        }
    }
}

enum Open {
    /// A file being read: its bytes.
    Read(Vec<u8>),
    /// An inbox upload being written; stored on close.
    Write { name: String, bytes: Vec<u8> },
    /// A directory listing, returned once.
    Dir(Option<Vec<File>>),
}

/// Open files and folders per session: uploads are buffered in memory up to the module
/// limit each, so this bounds a session's memory.
const MAX_HANDLES: usize = 8;

/// One SFTP session of one researcher.
pub struct SftpSession {
    service: Service,
    caller: Caller,
    limit: usize,
    handles: HashMap<String, Open>,
    next: u64,
}

impl SftpSession {
    /// A session for `caller`; uploads larger than `limit` bytes are refused.
    pub fn new(service: Service, caller: Caller, limit: usize) -> SftpSession {
        SftpSession {
            service,
            caller,
            limit,
            handles: HashMap::new(),
            next: 0,
        }
    }

    fn handle(&mut self, open: Open) -> Result<String, StatusReply> {
        if self.handles.len() >= MAX_HANDLES {
            return Err(StatusReply::new(StatusCode::Failure)
                .with_message(format!("at most {MAX_HANDLES} open files per session")));
        }
        self.next += 1;
        let handle = format!("h{}", self.next);
        self.handles.insert(handle.clone(), open);
        Ok(handle)
    }

    async fn listing(&self, node: &Node) -> Result<Vec<File>, StatusReply> {
        let released = || async { self.service.downloadable(&self.caller).await.map_err(reply) };
        Ok(match node {
            Node::Root => vec![dir_entry("released"), dir_entry("inbox")],
            Node::Released => {
                let mut ids: Vec<String> =
                    released().await?.into_iter().map(|(id, _, _)| id).collect();
                ids.dedup();
                ids.iter().map(|id| dir_entry(id)).collect()
            }
            Node::Request(id) => {
                let files: Vec<File> = released()
                    .await?
                    .into_iter()
                    .filter(|(rid, _, _)| rid == id)
                    .map(|(_, name, size)| {
                        file_entry(&name, u64::try_from(size).unwrap_or(0), false)
                    })
                    .collect();
                if files.is_empty() {
                    return Err(StatusCode::NoSuchFile.into());
                }
                files
            }
            Node::Inbox => self
                .service
                .inbox_list(&self.caller)
                .await
                .map_err(reply)?
                .into_iter()
                .map(|e| file_entry(&e.name, e.size, true))
                .collect(),
            Node::ReleasedFile(..) | Node::InboxFile(_) => {
                return Err(StatusCode::NoSuchFile.into());
            }
        })
    }

    async fn attributes(&self, node: &Node) -> Result<FileAttributes, StatusReply> {
        match node {
            Node::Root | Node::Released | Node::Inbox => Ok(dir_attrs()),
            Node::Request(_) => self.listing(node).await.map(|_| dir_attrs()),
            Node::ReleasedFile(id, file) => {
                let found = self
                    .service
                    .downloadable(&self.caller)
                    .await
                    .map_err(reply)?
                    .into_iter()
                    .find(|(rid, name, _)| rid == id && name == file);
                match found {
                    Some((_, _, size)) => Ok(file_attrs(u64::try_from(size).unwrap_or(0), false)),
                    None => Err(StatusCode::NoSuchFile.into()),
                }
            }
            Node::InboxFile(name) => {
                let entries = self.service.inbox_list(&self.caller).await.map_err(reply)?;
                entries
                    .into_iter()
                    .find(|e| &e.name == name)
                    .map(|e| file_attrs(e.size, true))
                    .ok_or_else(|| StatusCode::NoSuchFile.into())
            }
        }
    }
}

fn reply(error: ServiceError) -> StatusReply {
    let code = match error {
        ServiceError::NotFound(_) => StatusCode::NoSuchFile,
        ServiceError::Forbidden(_) | ServiceError::Unauthenticated(_) => {
            StatusCode::PermissionDenied
        }
        _ => StatusCode::Failure,
    };
    StatusReply::new(code).with_message(error.to_string())
}

fn denied(what: &str) -> StatusReply {
    StatusReply::new(StatusCode::PermissionDenied)
        .with_message(format!("{what} is not allowed here"))
}

fn dir_attrs() -> FileAttributes {
    let mut attrs = FileAttributes::empty();
    attrs.permissions = Some(0o040_555);
    attrs.size = Some(0);
    attrs
}

fn file_attrs(size: u64, writable: bool) -> FileAttributes {
    let mut attrs = FileAttributes::empty();
    attrs.permissions = Some(if writable { 0o100_644 } else { 0o100_444 });
    attrs.size = Some(size);
    attrs
}

fn dir_entry(name: &str) -> File {
    File::new(name, dir_attrs())
}

fn file_entry(name: &str, size: u64, writable: bool) -> File {
    File::new(name, file_attrs(size, writable))
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".into(),
        language_tag: "en-US".into(),
    }
}

impl russh_sftp::server::Handler for SftpSession {
    type Error = StatusReply;

    fn unimplemented(&self) -> Self::Error {
        StatusReply::new(StatusCode::OpUnsupported).with_message("not supported")
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        Ok(Version::new())
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let node = Node::parse(&path).ok_or(StatusReply::new(StatusCode::NoSuchFile))?;
        Ok(Name {
            id,
            files: vec![File::dummy(node.path())],
        })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let node = Node::parse(&path).ok_or(StatusReply::new(StatusCode::NoSuchFile))?;
        let attrs = self.attributes(&node).await?;
        Ok(Attrs { id, attrs })
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.stat(id, path).await
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let attrs = match self.handles.get(&handle) {
            Some(Open::Read(bytes)) => file_attrs(bytes.len() as u64, false),
            Some(Open::Write { bytes, .. }) => file_attrs(bytes.len() as u64, true),
            Some(Open::Dir(_)) => dir_attrs(),
            None => return Err(StatusCode::Failure.into()),
        };
        Ok(Attrs { id, attrs })
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let node = Node::parse(&path).ok_or(StatusReply::new(StatusCode::NoSuchFile))?;
        let mut files = self.listing(&node).await?;
        files.insert(0, dir_entry(".."));
        files.insert(0, dir_entry("."));
        let handle = self.handle(Open::Dir(Some(files)))?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        match self.handles.get_mut(&handle) {
            Some(Open::Dir(files)) => match files.take() {
                Some(files) => Ok(Name { id, files }),
                None => Err(StatusCode::Eof.into()),
            },
            _ => Err(StatusCode::Failure.into()),
        }
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        _attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        let node = Node::parse(&filename).ok_or(StatusReply::new(StatusCode::NoSuchFile))?;
        let writing = pflags.intersects(
            OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREATE | OpenFlags::TRUNCATE,
        );
        let open = match (node, writing) {
            (Node::ReleasedFile(request, file), false) => Open::Read(
                self.service
                    .download(&self.caller, &request, &file)
                    .await
                    .map_err(reply)?,
            ),
            (Node::InboxFile(name), false) => Open::Read(
                self.service
                    .inbox_get(&self.caller, &name)
                    .await
                    .map_err(reply)?,
            ),
            (Node::InboxFile(name), true) => {
                if !crate::service::valid_inbox_name(&name) {
                    return Err(StatusReply::new(StatusCode::PermissionDenied)
                        .with_message("inbox names use letters, digits, '.', '_' and '-'"));
                }
                let bytes = if pflags.contains(OpenFlags::TRUNCATE) {
                    Vec::new()
                } else {
                    self.service
                        .inbox_get(&self.caller, &name)
                        .await
                        .unwrap_or_default()
                };
                Open::Write { name, bytes }
            }
            (Node::ReleasedFile(..), true) => return Err(denied("writing released files")),
            _ => return Err(denied("opening this path")),
        };
        let handle = self.handle(open)?;
        Ok(Handle { id, handle })
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        let Some(Open::Read(bytes)) = self.handles.get(&handle) else {
            return Err(StatusCode::Failure.into());
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if start >= bytes.len() {
            return Err(StatusCode::Eof.into());
        }
        let end = bytes.len().min(start.saturating_add(len as usize));
        Ok(Data {
            id,
            data: bytes[start..end].to_vec(),
        })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Self::Error> {
        let limit = self.limit;
        let Some(Open::Write { bytes, .. }) = self.handles.get_mut(&handle) else {
            return Err(denied("writing"));
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(data.len());
        if end > limit {
            return Err(StatusReply::new(StatusCode::Failure).with_message(format!(
                "upload larger than the module limit of {limit} bytes"
            )));
        }
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[start..end].copy_from_slice(&data);
        Ok(ok(id))
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        match self.handles.remove(&handle) {
            Some(Open::Write { name, bytes }) => {
                self.service
                    .inbox_put(&self.caller, &name, &bytes, self.limit)
                    .await
                    .map_err(reply)?;
                Ok(ok(id))
            }
            Some(_) => Ok(ok(id)),
            None => Err(StatusCode::Failure.into()),
        }
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        match Node::parse(&filename) {
            Some(Node::InboxFile(name)) => {
                self.service
                    .inbox_remove(&self.caller, &name)
                    .await
                    .map_err(reply)?;
                Ok(ok(id))
            }
            _ => Err(denied("removing this path")),
        }
    }

    async fn setstat(
        &mut self,
        id: u32,
        path: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        // Clients set times and modes after an upload; the inbox keeps neither.
        match Node::parse(&path) {
            Some(Node::InboxFile(_)) => Ok(ok(id)),
            _ => Err(denied("changing attributes")),
        }
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        handle: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        match self.handles.get(&handle) {
            Some(Open::Write { .. }) => Ok(ok(id)),
            _ => Err(denied("changing attributes")),
        }
    }

    async fn mkdir(
        &mut self,
        _id: u32,
        _path: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        Err(denied("creating folders"))
    }

    async fn rmdir(&mut self, _id: u32, _path: String) -> Result<Status, Self::Error> {
        Err(denied("removing folders"))
    }

    async fn rename(
        &mut self,
        _id: u32,
        _oldpath: String,
        _newpath: String,
    ) -> Result<Status, Self::Error> {
        Err(denied("renaming"))
    }

    async fn symlink(
        &mut self,
        _id: u32,
        _linkpath: String,
        _targetpath: String,
    ) -> Result<Status, Self::Error> {
        Err(denied("creating links"))
    }

    async fn readlink(&mut self, _id: u32, _path: String) -> Result<Name, Self::Error> {
        Err(StatusCode::NoSuchFile.into())
    }
}

#[cfg(test)]
mod tests {
    use super::Node;

    #[test]
    fn paths_resolve_only_inside_the_virtual_tree() {
        let cases = [
            ("/", Some(Node::Root)),
            (".", Some(Node::Root)),
            ("", Some(Node::Root)),
            ("/../../etc/passwd", None),
            ("released", Some(Node::Released)),
            (
                "/released/rel-1/t.csv",
                Some(Node::ReleasedFile("rel-1".into(), "t.csv".into())),
            ),
            (
                "/released/rel-1/../rel-2",
                Some(Node::Request("rel-2".into())),
            ),
            (
                "/inbox/../../inbox/a.wasm",
                Some(Node::InboxFile("a.wasm".into())),
            ),
            ("/inbox/a/b", None),
            ("/etc", None),
            ("/released/a/b/c", None),
        ];
        for (path, expected) in cases {
            assert_eq!(Node::parse(path), expected, "{path}");
        }
    }
}
