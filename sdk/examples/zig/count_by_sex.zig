//! count_by_sex.zig: an enclave example job written in Zig.
//!
//! Counts persons by sex from the OMOP `person` table (`/data/person/person.csv`, column
//! `gender_source_value`: "1" male, "2" female) and writes a frequency table with its
//! Total margin and the manifest that describes it:
//!
//!   /out/persons_by_sex.csv   sex,n   rows M, F, Total
//!   /out/manifest.json        a frequency table for output checking
//!
//! The column is located by header name; lines may end in LF or CRLF; empty lines are
//! ignored. Rows with another sex code are skipped and counted on stderr.
//! Exit status: 0 success; 2 input missing or malformed; 3 output cannot be written.
//!
//! Build for the sandbox (Zig 0.17, e.g. PyPI `ziglang`):
//!   python3 -m ziglang build-exe -target wasm32-wasi -O ReleaseSmall -fstrip \
//!     count_by_sex.zig -femit-bin=count_by_sex.wasm

const std = @import("std");

const table_path = "person/person.csv";
const max_input = 1 << 30;

fn fail(comptime status: u8, comptime format: []const u8, args: anytype) noreturn {
    std.debug.print("count_by_sex: " ++ format ++ "\n", args);
    std.process.exit(status);
}

fn preopenedDir(init: std.process.Init, name: []const u8) std.Io.Dir {
    const resource = init.preopens.get(name) orelse fail(2, "{s} is not mounted", .{name});
    return switch (resource) {
        .dir => |dir| dir,
        .file => fail(2, "{s} is not a directory", .{name}),
    };
}

pub fn main(init: std.process.Init) void {
    const io = init.io;
    const data = preopenedDir(init, "/data");
    const out = preopenedDir(init, "/out");

    const csv = data.readFileAlloc(io, table_path, init.gpa, .limited(max_input)) catch |err|
        fail(2, "cannot read /data/{s}: {s}", .{ table_path, @errorName(err) });

    var lines = std.mem.splitScalar(u8, csv, '\n');
    const header = std.mem.trimEnd(u8, lines.first(), "\r");
    var column: ?usize = null;
    var names = std.mem.splitScalar(u8, header, ',');
    var index: usize = 0;
    while (names.next()) |name| : (index += 1) {
        const bare = std.mem.trimStart(u8, name, "\xEF\xBB\xBF"); // UTF-8 byte order mark
        if (std.mem.eql(u8, bare, "gender_source_value")) column = index;
    }
    const wanted = column orelse fail(2, "/data/{s}: no gender_source_value column", .{table_path});

    var male: u64 = 0;
    var female: u64 = 0;
    var other: u64 = 0;
    while (lines.next()) |raw| {
        const line = std.mem.trimEnd(u8, raw, "\r");
        if (line.len == 0) continue;
        var fields = std.mem.splitScalar(u8, line, ',');
        var i: usize = 0;
        const value = while (fields.next()) |field| : (i += 1) {
            if (i == wanted) break field;
        } else fail(2, "/data/{s}: a row has no field {d}", .{ table_path, wanted });
        if (std.mem.eql(u8, value, "1")) {
            male += 1;
        } else if (std.mem.eql(u8, value, "2")) {
            female += 1;
        } else {
            other += 1;
        }
    }
    if (other > 0) std.debug.print("count_by_sex: skipped {d} rows with another sex code\n", .{other});

    var buffer: [256]u8 = undefined;
    const table = std.fmt.bufPrint(&buffer, "sex,n\nM,{d}\nF,{d}\nTotal,{d}\n", .{ male, female, male + female }) catch unreachable;
    out.writeFile(io, .{ .sub_path = "persons_by_sex.csv", .data = table }) catch |err|
        fail(3, "cannot write /out/persons_by_sex.csv: {s}", .{@errorName(err)});
    const manifest =
        \\{"version": 1, "outputs": [{"file": "persons_by_sex.csv", "kind": "frequency_table", "dimensions": ["sex"], "count": "n"}]}
        \\
    ;
    out.writeFile(io, .{ .sub_path = "manifest.json", .data = manifest }) catch |err|
        fail(3, "cannot write /out/manifest.json: {s}", .{@errorName(err)});
}
