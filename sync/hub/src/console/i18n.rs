//! The console's one translation table: every word a console page shows, in English and
//! Simplified Chinese.

/// The console's languages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhCn,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "en" => Some(Lang::En),
            "zh-CN" => Some(Lang::ZhCn),
            _ => None,
        }
    }

    /// The other language, which the switch offers.
    pub fn other(self) -> Self {
        match self {
            Lang::En => Lang::ZhCn,
            Lang::ZhCn => Lang::En,
        }
    }
}

/// A text of the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum T {
    Console,
    LanguageName,
    SignIn,
    SignOut,
    UserName,
    Password,
    WrongPassword,
    LockedOut,
    SessionEnded,
    Fleet,
    Stations,
    Audit,
    ApiKeys,
    KeyName,
    Scopes,
    Created,
    LastUsed,
    AddKey,
    KeyAdded,
    KeyOnce,
    KeyRevoked,
    RevokeKeyConfirm,
    Station,
    Role,
    Version,
    LastSeen,
    Pending,
    Printer,
    Devices,
    Lanes,
    LastError,
    ClockOffset,
    Never,
    SecondsAgo,
    Silent,
    Revoked,
    NotEnrolled,
    PrinterReady,
    PrinterFailing,
    NoPrinter,
    Waiting,
    Failed,
    Connected,
    Disconnected,
    ScansPerMinute,
    Denied,
    Live,
    AddStation,
    Add,
    Revoke,
    RevokeConfirm,
    EnrolmentCode,
    EnrolWith,
    CodeOnce,
    StationAdded,
    StationRevoked,
    KeysRevoked,
    Time,
    User,
    Action,
    Detail,
    Forbidden,
    BadRequest,
    NotFound,
    FormExpired,
    History,
    Back,
    NoStations,
    VenueNow,
    Today,
    Yesterday,
    DayBefore,
    DayAfter,
    LocalTime,
    ShowTable,
    ShowChart,
    DownloadCsv,
    DownloadPicture,
    NoEvent,
    NoFigures,
    BadDate,
}

impl T {
    pub fn get(self, lang: Lang) -> &'static str {
        let (en, zh) = match self {
            T::Console => ("Operations console", "运营控制台"),
            T::LanguageName => ("English", "简体中文"),
            T::SignIn => ("Sign in", "登录"),
            T::SignOut => ("Sign out", "退出"),
            T::UserName => ("User name", "用户名"),
            T::Password => ("Password", "密码"),
            T::WrongPassword => ("Wrong user name or password.", "用户名或密码错误。"),
            T::LockedOut => (
                "Too many failed sign-ins: this name is locked for 15 minutes.",
                "登录失败次数过多：该用户名已锁定 15 分钟。",
            ),
            T::SessionEnded => ("Your session ended: sign in again.", "会话已结束，请重新登录。"),
            T::Fleet => ("Fleet", "设备总览"),
            T::Stations => ("Stations", "站点管理"),
            T::Audit => ("Audit log", "审计日志"),
            T::ApiKeys => ("API keys", "API 密钥"),
            T::KeyName => ("Name", "名称"),
            T::Scopes => ("Scopes", "权限范围"),
            T::Created => ("Created", "创建时间"),
            T::LastUsed => ("Last used", "最近使用"),
            T::AddKey => ("Add an API key", "添加 API 密钥"),
            T::KeyAdded => ("API key added", "API 密钥已添加"),
            T::KeyOnce => (
                "Give it to the organiser's system as `Authorization: Bearer KEY`. It is shown once, here.",
                "请以 `Authorization: Bearer KEY` 的方式交给主办方系统。密钥只显示这一次。",
            ),
            T::KeyRevoked => ("API key revoked", "API 密钥已吊销"),
            T::RevokeKeyConfirm => (
                "Revoke this key? The system using it is refused from its next request.",
                "确定吊销该密钥？使用它的系统下一次请求即被拒绝。",
            ),
            T::Station => ("Station", "站点"),
            T::Role => ("Role", "角色"),
            T::Version => ("Version / mode", "版本 / 模式"),
            T::LastSeen => ("Last seen", "最后心跳"),
            T::Pending => ("Unsent", "待上传"),
            T::Printer => ("Printer", "打印机"),
            T::Devices => ("Devices", "外设"),
            T::Lanes => ("Lanes", "通道"),
            T::LastError => ("Last error", "最近错误"),
            T::ClockOffset => ("Clock", "时钟偏差"),
            T::Never => ("never", "从未"),
            T::SecondsAgo => ("s ago", "秒前"),
            T::Silent => ("silent", "失联"),
            T::Revoked => ("revoked", "已吊销"),
            T::NotEnrolled => ("not enrolled", "未注册"),
            T::PrinterReady => ("ready", "正常"),
            T::PrinterFailing => ("failing", "故障"),
            T::NoPrinter => ("none", "无"),
            T::Waiting => ("waiting", "排队"),
            T::Failed => ("failed", "失败"),
            T::Connected => ("connected", "已连接"),
            T::Disconnected => ("disconnected", "已断开"),
            T::ScansPerMinute => ("scans/min", "次/分"),
            T::Denied => ("denied", "拒绝"),
            T::Live => ("Live", "实时"),
            T::AddStation => ("Add a station", "添加站点"),
            T::Add => ("Add", "添加"),
            T::Revoke => ("Revoke", "吊销"),
            T::RevokeConfirm => (
                "Revoke this station? Its credential and signing key stop working at once.",
                "确定吊销该站点？其凭证和签名密钥将立即失效。",
            ),
            T::EnrolmentCode => ("One-time enrolment code", "一次性注册码"),
            T::EnrolWith => ("On the station, run", "在站点上运行"),
            T::CodeOnce => (
                "The code works once and is not shown again.",
                "注册码只能使用一次，且不会再次显示。",
            ),
            T::StationAdded => ("Station added", "站点已添加"),
            T::StationRevoked => ("Station revoked", "站点已吊销"),
            T::KeysRevoked => ("signing keys revoked", "个签名密钥已吊销"),
            T::Time => ("Time (UTC)", "时间 (UTC)"),
            T::User => ("User", "用户"),
            T::Action => ("Action", "操作"),
            T::Detail => ("Detail", "详情"),
            T::Forbidden => (
                "Your role may not open this page or do this.",
                "您的角色无权访问此页面或执行此操作。",
            ),
            T::BadRequest => ("The form was not filled in correctly", "表单填写有误"),
            T::NotFound => ("No such page.", "页面不存在。"),
            T::FormExpired => (
                "This form expired or did not come from this console: open the page again.",
                "表单已过期或并非来自本控制台，请重新打开页面。",
            ),
            T::History => ("History (one sample a minute)", "历史记录（每分钟一次）"),
            T::Back => ("Back", "返回"),
            T::NoStations => ("No stations yet.", "暂无站点。"),
            T::VenueNow => ("Venue now", "现场实况"),
            T::Today => ("Today", "今天"),
            T::Yesterday => ("Yesterday", "昨天"),
            T::DayBefore => ("← Day before", "← 前一天"),
            T::DayAfter => ("Day after →", "后一天 →"),
            T::LocalTime => ("Hours are the venue's local time", "时间均为展馆当地时间"),
            T::ShowTable => ("Table", "表格"),
            T::ShowChart => ("Chart", "图表"),
            T::DownloadCsv => ("CSV", "CSV"),
            T::DownloadPicture => ("Picture (SVG)", "图片 (SVG)"),
            T::NoEvent => (
                "No event definition has reached the hub yet: sync the admin station or import the event.",
                "中心尚未收到活动定义：请同步管理站或导入活动。",
            ),
            T::NoFigures => ("Nothing yet.", "暂无数据。"),
            T::BadDate => ("A day is written YYYY-MM-DD.", "日期格式应为 YYYY-MM-DD。"),
        };
        match lang {
            Lang::En => en,
            Lang::ZhCn => zh,
        }
    }
}
