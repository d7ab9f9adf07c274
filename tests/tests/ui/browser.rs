//! Headless Chromium driven through Debian's chromedriver (WebDriver, with
//! fantoccini): one chromedriver process per shop, one browser session per
//! test, a screenshot per test under `target/ui-screenshots/`.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long a page gets to show what a test waits for: generous, because a
/// loaded CI machine is slow; a wait that runs out fails the test with what
/// it was waiting for.
const PATIENCE: Duration = Duration::from_secs(30);

/// Chromium and chromedriver, when this machine has both.
#[derive(Debug, Clone)]
pub struct Chromium {
    browser: PathBuf,
    driver: PathBuf,
}

impl Chromium {
    /// The browser and its driver (`DAPPLE_CHROMIUM`, `DAPPLE_CHROMEDRIVER`,
    /// else Debian's paths, else `PATH`). Without them: under `CI=true` a
    /// failure, since `.ci/run` installs them; elsewhere a skip notice and
    /// `None`.
    pub fn find() -> Option<Chromium> {
        let locate = |variable: &str, names: &[&str]| -> Option<PathBuf> {
            if let Some(path) = std::env::var_os(variable) {
                return Some(PathBuf::from(path)).filter(|p| p.is_file());
            }
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut dirs = vec![PathBuf::from("/usr/bin")];
            dirs.extend(std::env::split_paths(&path));
            dirs.iter()
                .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
                .find(|p| p.is_file())
        };
        let browser = locate("DAPPLE_CHROMIUM", &["chromium", "chromium-browser"]);
        let driver = locate("DAPPLE_CHROMEDRIVER", &["chromedriver"]);
        match (browser, driver) {
            (Some(browser), Some(driver)) => Some(Chromium { browser, driver }),
            _ if std::env::var("CI").as_deref() == Ok("true") => panic!(
                "CI=true but Chromium or chromedriver is missing: \
                 `apt-get install -y chromium chromium-driver` (as .ci/run does)"
            ),
            _ => {
                // Straight to stderr, past the test harness's capture, once.
                static NOTICE: std::sync::Once = std::sync::Once::new();
                NOTICE.call_once(|| {
                    let _ = writeln!(
                        std::io::stderr(),
                        "SKIPPED browser tests: Chromium or chromedriver not found \
                         (apt-get install chromium chromium-driver); set CI=true to make this a failure"
                    );
                });
                None
            }
        }
    }
}

/// A chromedriver process on a free loopback port, killed when dropped.
#[derive(Debug)]
pub struct ChromeDriver {
    child: Child,
    chromium: Chromium,
    url: String,
}

impl ChromeDriver {
    /// Starts chromedriver and waits until it accepts connections.
    pub fn start(chromium: Chromium) -> ChromeDriver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&chromium.driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = ChromeDriver {
            child,
            chromium,
            url: format!("http://127.0.0.1:{port}"),
        };
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(address).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {address}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory under the system's temporary directory, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "dapple-ui-{}-{}-{what}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One browser session on the collector's UI.
#[derive(Debug)]
pub struct Page {
    client: Client,
    base: String,
    profile: TempDir,
    /// Where the browser saves downloads.
    pub downloads: TempDir,
}

impl Page {
    /// Opens a headless Chromium window of 1280 × 900 on the UI at `http`.
    pub async fn open(driver: &ChromeDriver, http: SocketAddr) -> Page {
        let profile = TempDir::new("profile");
        let downloads = TempDir::new("downloads");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": driver.chromium.browser,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.path().display()),
                    "--window-size=1280,900",
                ],
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                },
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("chromedriver opens a Chromium session");
        Page {
            client,
            base: format!("http://{http}"),
            profile,
            downloads,
        }
    }

    /// Ends the session (Chromium quits).
    pub async fn close(self) {
        let _ = self.client.close().await;
        drop(self.profile);
    }

    /// Goes to `path` on the UI.
    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// The path and query string the browser shows.
    pub async fn location(&self) -> String {
        let url = self.client.current_url().await.expect("the current URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Reloads the page.
    pub async fn reload(&self) {
        self.client.refresh().await.expect("reload");
    }

    /// Sets the window's size.
    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("resize the window");
    }

    /// Runs `script` (a function body: `return ...`) and gives its value.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` until it returns something other than null or false,
    /// and gives that; fails with `what` when the page never shows it.
    pub async fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let value = self.js(script).await;
            if !value.is_null() && value != Value::Bool(false) {
                return value;
            }
            if Instant::now() > deadline {
                panic!("the page never showed {what}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for an element matching `css` and clicks it.
    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Waits for an element matching `css`.
    pub async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Replaces the text of the input matching `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.element(css).await;
        input.clear().await.expect("clear the input");
        if !text.is_empty() {
            input.send_keys(text).await.expect("type into the input");
        }
    }

    /// Chooses `value` in the select matching `css`, once the page offers it.
    pub async fn choose(&self, css: &str, value: &str) {
        let option = format!("{css} option[value={value:?}]");
        self.element(&option).await;
        self.element(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("choose {value} in {css}: {e}"));
    }

    /// Saves a PNG of the window as `target/ui-screenshots/{name}.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is written");
    }
}

/// `target/ui-screenshots`, found from this test binary's path
/// (`target/debug/deps/ui-…`), so a custom target directory is honoured.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .nth(3)
        .map(|target| target.join("ui-screenshots"))
        .unwrap_or_else(|| PathBuf::from("target/ui-screenshots"))
}
