//! The command blocks of the documentation, read as the tests that run them need them.
//!
//! A ```sh block right after the line [`RUNNABLE`] runs as written against the sandbox
//! (`doc_examples`); other ```sh blocks show commands for real systems (a tenant, a
//! cluster) and are not run.

/// A GET on 127.0.0.1 with curl (as the blocks use it); the body when the answer is 2xx.
pub fn get(url: &str) -> Option<String> {
    let out = std::process::Command::new("curl")
        .args(["-sf", "--max-time", "5", url])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A port free on 127.0.0.1 now, for a server a block starts.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The marker, on the line before a ```sh block, of a block that runs against the sandbox.
pub const RUNNABLE: &str = "<!-- runs against the sandbox -->";

/// A ```sh block: where it starts and its commands.
#[derive(Debug)]
pub struct Block {
    /// The line of its opening fence, counted from 1.
    pub line: usize,
    /// The text between the fences, indentation removed.
    pub body: String,
}

impl Block {
    /// The commands: continuation lines joined, comments and blank lines left out.
    pub fn commands(&self) -> Vec<String> {
        commands(&self.body)
    }
}

/// The commands of a shell block's text: continuation lines joined, comments and blank
/// lines left out.
pub fn commands(body: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut pending = String::new();
    for line in body.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(line);
                commands.push(std::mem::take(&mut pending));
            }
        }
    }
    commands
}

/// Every fenced block of `text` opened with ```sh, and whether the line before it is the
/// [`RUNNABLE`] marker.
pub fn sh_blocks(text: &str) -> Vec<(bool, Block)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let open = lines[i].trim_start();
        if open == "```sh" {
            let indent = lines[i].len() - open.len();
            let marked = i > 0 && lines[i - 1].trim() == RUNNABLE;
            let mut body = Vec::new();
            let mut j = i + 1;
            while j < lines.len() && lines[j].trim() != "```" {
                body.push(lines[j].get(indent..).unwrap_or(lines[j].trim_start()));
                j += 1;
            }
            assert!(j < lines.len(), "the block at line {} is closed", i + 1);
            blocks.push((
                marked,
                Block {
                    line: i + 1,
                    body: body.join("\n"),
                },
            ));
            i = j;
        }
        i += 1;
    }
    blocks
}

/// The ```sh blocks marked [`RUNNABLE`].
pub fn runnable(text: &str) -> Vec<Block> {
    sh_blocks(text)
        .into_iter()
        .filter_map(|(marked, b)| marked.then_some(b))
        .collect()
}

/// The commands of the first ```sh block after `heading` (a whole line).
pub fn block_after(text: &str, heading: &str) -> Vec<String> {
    let (_, after) = text
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("the heading {heading:?} is there"));
    let (_, block) = sh_blocks(after)
        .into_iter()
        .next()
        .expect("a ```sh block follows");
    block.commands()
}

#[test]
fn blocks_are_read_with_their_marker_and_indentation() {
    let text = "intro\n\n<!-- runs against the sandbox -->\n```sh\ngroupsync check   # note\n# a comment\ngroupsync run \\\n  --dry-run\n```\n\n4. step:\n   ```sh\n   groupsync sources\n   ```\n";
    let blocks = sh_blocks(text);
    assert_eq!(blocks.len(), 2);
    assert!(blocks[0].0 && !blocks[1].0);
    assert_eq!(blocks[0].1.line, 4);
    assert_eq!(
        blocks[0].1.commands(),
        ["groupsync check   # note", "groupsync run --dry-run"]
    );
    assert_eq!(blocks[1].1.commands(), ["groupsync sources"]);
    assert_eq!(runnable(text).len(), 1);
    assert_eq!(block_after(text, "4. step:").len(), 1);
}
