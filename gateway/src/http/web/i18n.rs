//! The pages' words in English and Japanese. The language comes from the
//! `__Host-enclave_lang` cookie (set by the switch in every page header), else from the
//! browser's `Accept-Language`, else Japanese (the visiting environment's users are in
//! Japan). Every message has both texts: the macro will not compile otherwise.

use axum::http::HeaderMap;

/// A page language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    /// English.
    En,
    /// Japanese.
    Ja,
}

/// The cookie that remembers the chosen language.
pub(crate) const LANG_COOKIE: &str = "__Host-enclave_lang";

impl Lang {
    /// `en` or `ja`.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }

    pub(crate) fn parse(code: &str) -> Option<Lang> {
        match code {
            "en" => Some(Lang::En),
            "ja" => Some(Lang::Ja),
            _ => None,
        }
    }

    /// The language for a request: the cookie, else `Accept-Language`, else Japanese.
    pub(crate) fn of(headers: &HeaderMap) -> Lang {
        if let Some(lang) = super::cookie(headers, LANG_COOKIE).and_then(|c| Lang::parse(&c)) {
            return lang;
        }
        let accept = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        // Ordered by quality; `en-US` counts as `en`.
        accept_language::parse(accept)
            .iter()
            .find_map(|tag| Lang::parse(&tag.split('-').next().unwrap_or("").to_lowercase()))
            .unwrap_or(Lang::Ja)
    }

    /// The text of `msg` in this language.
    pub(crate) fn t(self, msg: Msg) -> &'static str {
        msg.text(self)
    }

    /// A state, verdict or vote word, translated when known.
    pub(crate) fn word(self, word: &str) -> String {
        let msg = match word {
            "queued" => Msg::StateQueued,
            "running" => Msg::StateRunning,
            "succeeded" => Msg::StateSucceeded,
            "failed" => Msg::StateFailed,
            "submitted" => Msg::StateSubmitted,
            "partially_reviewed" => Msg::StatePartial,
            "reviewed" => Msg::StateReviewed,
            "returned" => Msg::StateReturned,
            "released" => Msg::StateReleased,
            "rejected" => Msg::StateRejected,
            "withdrawn" => Msg::StateWithdrawn,
            "pass" => Msg::VerdictPass,
            "review" => Msg::VerdictReview,
            "fail" => Msg::VerdictFail,
            "approve" | "approved" => Msg::VoteApprove,
            "changes" => Msg::VoteChanges,
            "reject" => Msg::VoteReject,
            "ok" => Msg::OutcomeOk,
            "denied" => Msg::OutcomeDenied,
            "error" => Msg::OutcomeError,
            _ => return word.to_owned(),
        };
        let text = self.t(msg);
        if text == word {
            text.to_owned()
        } else {
            format!("{text} ({word})")
        }
    }
}

macro_rules! messages {
    ($($key:ident => $en:literal, $ja:literal;)*) => {
        /// Every message of the pages.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Msg { $($key),* }

        impl Msg {
            #[cfg(test)]
            pub(crate) const ALL: &'static [Msg] = &[$(Msg::$key),*];

            fn text(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((Msg::$key, Lang::En) => $en, (Msg::$key, Lang::Ja) => $ja,)*
                }
            }
        }
    };
}

messages! {
    AppName => "enclave — visiting environment", "enclave — 訪問解析環境";
    SignIn => "Sign in", "サインイン";
    SignOut => "Sign out", "サインアウト";
    UserName => "User name", "ユーザー名";
    Password => "Password", "パスワード";
    TotpCode => "Authenticator code (6 digits)", "認証アプリのコード（6桁）";
    SignInHelp => "Password and a one-time code from your authenticator app (two-factor authentication).", "パスワードと認証アプリのワンタイムコードでサインインします（二要素認証）。";
    Home => "Home", "ホーム";
    Jobs => "Jobs", "ジョブ";
    Job => "Job", "ジョブ";
    Requests => "Release requests", "持ち出し申請";
    Request => "Release request", "持ち出し申請";
    ReviewQueue => "Review queue", "審査待ち";
    Review => "Review", "審査";
    AuditTrail => "Audit trail", "監査ログ";
    Verify => "Chain verification", "チェーン検証";
    Provenance => "Provenance", "来歴";
    Name => "Name", "名前";
    Project => "Project", "プロジェクト";
    Dataset => "Dataset", "データセット";
    State => "State", "状態";
    Submitted => "Submitted", "投入日時";
    Finished => "Finished", "終了日時";
    Created => "Created", "作成日時";
    Author => "Researcher", "研究者";
    Files => "Files", "ファイル";
    File => "File", "ファイル";
    Outputs => "Outputs", "出力";
    Size => "Size (bytes)", "サイズ（バイト）";
    Verdict => "Automated verdict", "自動判定";
    Reasons => "Reasons", "理由";
    Suggested => "Suggested safe version", "安全化案";
    Original => "Output as written", "出力（原本）";
    Context => "What the files show", "内容の説明";
    Justification => "Why failed files are safe", "不合格ファイルが安全である理由";
    Votes => "Votes", "投票";
    Checker => "Checker", "審査者";
    Vote => "Vote", "投票";
    Comment => "Comment (shown to the researcher)", "コメント（研究者に表示されます）";
    CommentRule => "A comment is required unless you approve a file that passed the automated checks.", "自動判定に合格したファイルを承認する場合を除き、コメントが必要です。";
    VoteApprove => "approve", "承認";
    VoteChanges => "changes needed", "修正依頼";
    VoteReject => "reject", "却下";
    SendVote => "Send vote", "投票する";
    YouVoted => "You have voted on this file in this round.", "このラウンドでこのファイルに投票済みです。";
    Blinded => "Other checkers' votes are hidden until every file is decided.", "全ファイルの判定が出るまで他の審査者の投票は表示されません。";
    FlaggedHint => "Highlighted cells did not pass; hover for the reason.", "強調表示のセルは不合格です。理由はカーソルを合わせると表示されます。";
    PseudonymHint => "Highlighted tokens look like pseudonymous identifiers.", "強調表示の文字列は仮名化IDの可能性があります。";
    Approvals => "Approvals needed per file", "ファイルごとに必要な承認数";
    Round => "Round", "ラウンド";
    Nothing => "Nothing here.", "該当するものはありません。";
    Filter => "Filter", "絞り込み";
    Actor => "Actor", "実行者";
    Target => "Job or target", "ジョブ・対象";
    Action => "Action", "操作";
    Outcome => "Outcome", "結果";
    From => "From (UTC)", "開始（UTC）";
    To => "To (UTC)", "終了（UTC）";
    Any => "any", "すべて";
    Seq => "Seq", "番号";
    Time => "Time (UTC)", "日時（UTC）";
    Details => "Details", "詳細";
    NextPage => "Next page", "次のページ";
    FirstPage => "First page", "最初のページ";
    Export => "Export", "エクスポート";
    ChainOk => "The audit chain verifies: no event was altered, removed or reordered.", "監査チェーンは正常です。イベントの改ざん・削除・並べ替えはありません。";
    ChainBroken => "The audit chain does NOT verify.", "監査チェーンの検証に失敗しました。";
    Events => "Events checked", "検証したイベント数";
    Roles => "Roles", "ロール";
    Limits => "Limits", "制限";
    Usage => "Usage", "使用量";
    ModuleHash => "Module SHA-256", "モジュール SHA-256";
    Error => "Error", "エラー";
    StateQueued => "queued", "待機中";
    StateRunning => "running", "実行中";
    StateSucceeded => "succeeded", "成功";
    StateFailed => "failed", "失敗";
    StateSubmitted => "submitted", "申請済み";
    StatePartial => "partially reviewed", "一部審査済み";
    StateReviewed => "reviewed", "審査済み";
    StateReturned => "returned for changes", "差し戻し";
    StateReleased => "released", "持ち出し承認済み";
    StateRejected => "rejected", "却下";
    StateWithdrawn => "withdrawn", "取り下げ";
    VerdictPass => "pass", "合格";
    VerdictReview => "needs review", "要審査";
    VerdictFail => "fail", "不合格";
    OutcomeOk => "ok", "成功";
    OutcomeDenied => "denied", "拒否";
    OutcomeError => "error", "エラー";
    Download => "Download", "ダウンロード";
    VoteRecorded => "Your vote was recorded.", "投票を記録しました。";
    Welcome => "Signed in as", "サインイン中：";
    Account => "Your account", "アカウント";
    ChangePassword => "Change password", "パスワードを変更する";
    CurrentPassword => "Current password", "現在のパスワード";
    NewPassword => "New password (at least 12 characters)", "新しいパスワード（12文字以上）";
    NewPasswordAgain => "New password again", "新しいパスワード（確認）";
    PasswordChanged => "Your password was changed; your other sessions have ended.", "パスワードを変更しました。他のセッションは終了しました。";
    PasswordsDiffer => "the two new passwords differ", "新しいパスワードが一致しません";
    LoginRefused => "wrong user name, password or code", "ユーザー名、パスワードまたはコードが正しくありません";
    LoginLocked => "too many failed sign-ins; try again later", "サインインの失敗が多すぎます。しばらくしてからお試しください";
    LoginFailed => "sign-in failed; try again later", "サインインできませんでした。しばらくしてからお試しください";
    SessionEnded => "Your session has ended; please sign in again.", "セッションが終了しました。もう一度サインインしてください。";
    FormExpired => "The sign-in form expired; please try again.", "サインインフォームの有効期限が切れました。もう一度お試しください。";
    RequestRelease => "Request release", "持ち出しを申請する";
    UseSuggested => "Request the suggested safe versions of failed tables instead", "不合格の表は安全化案で申請する";
    Withdraw => "Withdraw this request", "この申請を取り下げる";
    Resubmit => "Resubmit", "再申請する";
    NewJob => "Job with the changed outputs (optional)", "修正した出力のジョブ（任意）";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_messages_match_the_cores() {
        // The English pages say exactly what the core's errors say.
        assert_eq!(Lang::En.t(Msg::LoginRefused), crate::service::LOGIN_REFUSED);
        assert_eq!(Lang::En.t(Msg::LoginLocked), crate::service::LOGIN_LOCKED);
    }

    #[test]
    fn every_message_has_both_languages() {
        for msg in Msg::ALL {
            assert!(!Lang::En.t(*msg).is_empty(), "{msg:?}");
            assert!(!Lang::Ja.t(*msg).is_empty(), "{msg:?}");
        }
    }

    #[test]
    fn language_follows_cookie_then_accept_language_then_japanese() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.append(*k, axum::http::HeaderValue::from_static(v));
            }
            map
        };
        assert_eq!(Lang::of(&headers(&[])), Lang::Ja);
        assert_eq!(
            Lang::of(&headers(&[("accept-language", "en-US,en;q=0.9")])),
            Lang::En
        );
        assert_eq!(
            Lang::of(&headers(&[("accept-language", "fr, ja;q=0.5, en;q=0.4")])),
            Lang::Ja
        );
        assert_eq!(
            Lang::of(&headers(&[
                ("accept-language", "en-US"),
                ("cookie", "__Host-enclave_lang=ja")
            ])),
            Lang::Ja
        );
        assert_eq!(
            Lang::of(&headers(&[("cookie", "__Host-enclave_lang=xx")])),
            Lang::Ja
        );
    }
}
