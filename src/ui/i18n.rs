//! Every word the app shows, in Simplified Chinese and English: one table, switchable at
//! run time. A missing translation does not compile: each entry names both.

use crate::badges::printer::PrinterFault;
use crate::badges::PrintProblem;
use crate::domain::{
    EventField, EventPlace, EventProblemKind, FieldProblem, IdNumberProblem, PhoneProblem,
};
use crate::station::Refusal;

/// The display language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    /// The switch's label for this language, written in that language.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Zh => "中文",
            Lang::En => "English",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "cn" | "中文" => Some(Lang::Zh),
            "en" | "english" => Some(Lang::En),
            _ => None,
        }
    }

    /// Picks the Chinese or the English one of two strings (category labels, event names).
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh if !zh.is_empty() => zh,
            _ if !en.is_empty() => en,
            _ => zh,
        }
    }
}

macro_rules! texts {
    ($($key:ident => $zh:literal, $en:literal;)*) => {
        /// A text of the app; [`Txt::get`] gives it in a language.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Txt { $($key,)* }

        impl Txt {
            /// Every text, for the completeness test.
            #[cfg(test)]
            pub const ALL: &'static [Txt] = &[$(Txt::$key,)*];

            pub fn get(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((Txt::$key, Lang::Zh) => $zh, (Txt::$key, Lang::En) => $en,)*
                }
            }
        }
    };
}

texts! {
    AppTitle => "展会登记", "Expo registration";
    Language => "语言", "Language";
    ModeDesk => "登记台", "Desk";
    ModeKiosk => "自助机", "Kiosk";
    ModeGate => "闸机", "Gate";
    ModeAdmin => "管理", "Admin";
    Loading => "正在打开本站数据…", "Opening this station's data…";
    StationUnavailable => "无法打开本站数据", "Cannot open this station's data";
    // Login
    LoginTitle => "操作员登录", "Operator login";
    OperatorName => "操作员", "Operator";
    Pin => "PIN 码", "PIN";
    LogIn => "登录", "Log in";
    LogOut => "退出登录", "Log out";
    BadLogin => "操作员或 PIN 码错误", "Wrong operator or PIN";
    LockedOut => "PIN 错误次数过多，请稍后再试", "Too many wrong PINs: try again later";
    NoOperators => "本站还没有操作员：请先运行 expo-kiosk operator add", "This station has no operators yet: run expo-kiosk operator add first";
    LoggedInAs => "操作员", "Operator";
    // Desk
    Search => "搜索", "Search";
    SearchHint => "姓名、拼音、手机尾号、注册码或扫码", "Name, pinyin, phone tail, code, or scan";
    NoResults => "没有匹配的参会者", "No attendee matches";
    Results => "搜索结果", "Results";
    Name => "姓名", "Name";
    Company => "公司", "Company";
    JobTitle => "职位", "Title";
    Category => "类别", "Category";
    Phone => "手机", "Phone";
    Email => "邮箱", "Email";
    Country => "国家/地区", "Country";
    ChineseName => "中文姓名", "Chinese name";
    IdType => "证件类型", "ID type";
    IdNumber => "证件号码", "ID number";
    IdNone => "无证件", "no ID document";
    IdResident => "居民身份证", "Resident ID card";
    IdForeignResidence => "外国人永久居留身份证", "Foreign permanent residence card";
    IdPassport => "护照", "Passport";
    IdHkMacau => "港澳居民来往内地通行证", "Hong Kong / Macau permit";
    IdTaiwan => "台湾居民来往大陆通行证", "Taiwan permit";
    RegistrationCode => "注册码", "Registration code";
    Consent => "同意后续联系", "Consents to follow-up contact";
    Tags => "标签", "Tags";
    Badge => "胸卡", "Badge";
    NoBadge => "尚未打印胸卡", "No badge printed yet";
    RevealId => "显示完整号码（留审计记录）", "Show the full number (audited)";
    BadgeRevoked => "胸卡已作废", "Badge revoked";
    PrintBadge => "打印胸卡 (Enter)", "Print badge (Enter)";
    Reprint => "补打…", "Reprint…";
    NextVisitor => "下一位 (Esc)", "Next visitor (Esc)";
    ReprintReason => "补打原因", "Reprint reason";
    EditAttendee => "修改…", "Edit…";
    ChangeCategory => "更改类别…", "Change category…";
    Revoke => "作废胸卡…", "Revoke badge…";
    RevokeReason => "作废原因", "Revoke reason";
    Confirm => "确认", "Confirm";
    Cancel => "取消", "Cancel";
    Save => "保存", "Save";
    NewWalkIn => "现场登记 (F2)", "New walk-in (F2)";
    ClearSearch => "清空 (Esc)", "Clear (Esc)";
    SelectHint => "输入以搜索，或扫描二维码、放置身份证", "Type to search, or scan a QR code, or place an ID card";
    Printed => "已打印胸卡", "Badge printed";
    PrintQueued => "胸卡已加入打印队列", "Badge queued for printing";
    PrintRetrying => "打印重试中", "Retrying the print";
    PrintFailed => "打印失败", "Printing failed";
    // Print queue window
    PrintQueue => "打印队列", "Print queue";
    PrintWaiting => "等待", "waiting";
    PrintFailedCount => "失败", "failed";
    RetryFailed => "重试失败的任务", "Retry failed jobs";
    NoPrintJobs => "还没有打印任务", "No print jobs yet";
    JobStatus => "状态", "Status";
    Attempts => "尝试次数", "Attempts";
    JobQueued => "排队中", "Queued";
    JobSending => "发送中", "Sending";
    JobSent => "已发送到打印机", "Sent to the printer";
    JobBadgeReplaced => "未打印：胸卡已补打或作废", "Not printed: badge since reprinted or revoked";
    Saved => "已保存", "Saved";
    RevokedDone => "胸卡已作废", "Badge revoked";
    NotFound => "未找到", "Not found";
    NotAllowed => "当前角色无权执行此操作", "Your role does not allow this";
    InvalidBadge => "胸卡无效", "Invalid badge";
    Duplicate => "重复登记", "Duplicate registration";
    CodeTaken => "已登记给另一位观众的注册码", "another attendee already holds registration code";
    IdDocumentTaken => "此证件已登记给另一位观众", "this ID document is already registered to another attendee";
    Failed => "操作失败", "Failed";
    SeeStationLog => "详情见本站日志", "see the station's log";
    // Walk-in
    WalkInTitle => "现场登记", "Walk-in registration";
    EditTitle => "修改参会者", "Edit attendee";
    FromIdCard => "来自身份证", "From the ID card";
    Gender => "性别", "Gender";
    BirthDate => "出生日期", "Birth date";
    KeepIdNumber => "留空则保留已登记的证件号码", "Leave empty to keep the stored ID number";
    FixErrors => "请更正标出的字段", "Please fix the marked fields";
    PossibleDuplicate => "可能重复", "Possible duplicate";
    SameIdDocument => "相同证件号码", "same ID number";
    SamePhoneSimilarName => "相同手机号且姓名相近", "same phone, similar name";
    OpenExisting => "打开已有记录", "Open existing";
    SaveAnyway => "仍然保存", "Save anyway";
    Required => "必填", "required";
    // Status bar
    Printer => "打印机", "Printer";
    PrinterNotConfigured => "未配置 (printers.toml)", "not configured (printers.toml)";
    Scanner => "扫码枪", "Scanner";
    IdReader => "身份证阅读器", "ID reader";
    Connected => "已连接", "connected";
    Disconnected => "未连接", "disconnected";
    NotConfigured => "未配置", "not configured";
    SyncPending => "待同步", "Sync pending";
    LastSync => "上次同步", "Last sync";
    SyncNotEnrolled => "未接入中心 (sync enrol)", "no hub (sync enrol)";
    Today => "今日", "Today";
    RegisteredCount => "登记", "registered";
    PrintedCount => "打印", "printed";
    // Dashboard
    Dashboard => "统计", "Dashboard";
    ReportDate => "日期 (YYYY-MM-DD，空为今天)", "Date (YYYY-MM-DD, empty for today)";
    BadDate => "日期格式应为 YYYY-MM-DD", "The date must be YYYY-MM-DD";
    UpdatedAt => "更新于", "Updated";
    ExportCsv => "导出 CSV", "Export CSV";
    ExportPng => "导出 PNG", "Export PNG";
    ExportedTo => "已导出到", "Exported to";
    NoData => "暂无数据", "No data yet";
    TotalRegistered => "今日登记", "Registered today";
    TotalBadges => "今日制证", "Badges today";
    TotalReprints => "补打", "Reprints";
    TotalEntries => "入场", "Entries";
    TotalExits => "离场", "Exits";
    TotalDenied => "拒绝", "Denied";
    TotalInside => "在场", "Inside now";
    // Demo panel
    DemoPanel => "演示设备", "Demo devices";
    TapNewCard => "放置新访客身份证", "Tap a new visitor's ID card";
    TapSampleCard => "放置张三丰的身份证", "Tap 张三丰's ID card";
    TapForeignCard => "放置史密斯的外国人永久居留证", "Tap SMITH's foreign permanent residence card";
    RemoveCard => "拿走身份证", "Remove the card";
    ScanPreRegistration => "扫描预登记二维码", "Scan a pre-registration QR";
    ScanLastBadge => "扫描刚打印的胸卡", "Scan the badge just printed";
    DemoPins => "演示操作员：desk / 1234，admin / 0000", "Demo operators: desk / 1234, admin / 0000";
    // Kiosk
    KioskWelcome => "欢迎", "Welcome";
    KioskInstruction => "请扫描确认二维码或放置身份证", "Scan your confirmation QR or place your ID card";
    KioskConfirmTitle => "请核对您的信息", "Please check your details";
    KioskPrint => "确认并打印", "Confirm and print";
    KioskNotMe => "这不是我", "This is not me";
    KioskPrinting => "正在打印您的胸卡…", "Printing your badge…";
    KioskDone => "请取走您的胸卡，祝您参观愉快！", "Please take your badge. Enjoy the show!";
    KioskSeeDesk => "请到登记台咨询", "Please see the registration desk";
    KioskPrivacy => "隐私说明：放置身份证后，本机读取您的姓名、证件类型和证件号码，仅用于核对身份、办理登记和打印胸卡。证件号码加密保存，不显示在屏幕上，展会结束后按主办方的保存期限删除。", "Privacy: when you place your ID card, this kiosk reads your name, document type and number, only to check who you are, register you and print your badge. The number is stored encrypted, never shown on screen, and deleted after the show when the organiser's retention period ends.";
    ReasonCode => "原因代码", "Reason code";
    StaffExit => "工作人员", "Staff";
    AdminPinTitle => "管理员 PIN 退出自助模式", "Admin PIN to leave kiosk mode";
    Exit => "退出", "Exit";
    StartOver => "重新开始", "Start over";
    KioskRegisterTitle => "首次到访：请补充登记信息", "First visit: please complete your registration";
    KioskFromCard => "以下信息来自您的身份证", "From your ID card";
    KioskRegisterSave => "保存并打印胸卡", "Save and print my badge";
    KioskFixPhone => "请输入您的手机号码：中国大陆为 11 位，境外号码请以 + 和国家代码开头", "Please enter your mobile number: 11 digits in mainland China, or + and the country code";
    KioskFixCompany => "请填写您的单位名称", "Please enter your company or organisation";
    KioskFixTitle => "请填写您的职位", "Please enter your job title";
    KioskFixEmail => "请输入有效的电子邮箱，例如 name@example.com", "Please enter a valid e-mail address, e.g. name@example.com";
    KioskFixCountry => "请填写您的国家或地区", "Please enter your country or region";
    // Admin
    EventSettings => "活动设置", "Event settings";
    Operators => "操作员管理", "Operators";
    AuditLog => "审计日志", "Audit log";
    Import => "导入", "Import";
    EventName => "活动名称", "Event";
    Venue => "场馆", "Venue";
    Timezone => "时区", "Time zone";
    ChooseTemplate => "选择胸卡模板", "Choose the badge template";
    Devices => "设备设置", "Devices";
    NoDevice => "无", "none";
    PrintersDefault => "printers.toml 默认", "printers.toml default";
    NoSerialPorts => "本机未发现串口设备", "No serial ports found on this machine";
    DevicesSaved => "已保存，重启应用后生效", "Saved; applies when the app next starts";
    Zones => "区域", "Zones";
    Categories => "类别", "Categories";
    Role => "角色", "Role";
    Scope => "类别范围", "Scope";
    AllCategories => "全部类别", "all categories";
    AddOperator => "添加操作员", "Add operator";
    OperatorAdded => "已添加操作员", "Operator added";
    WeakPin => "PIN 码至少需要 4 位", "A PIN needs at least 4 characters";
    BadOperatorName => "操作员名称为 1-40 个字母、数字、“-”、“_”或“.”", "An operator name is 1-40 letters, digits, '-', '_' or '.'";
    OperatorExists => "已有同名操作员", "An operator with this name already exists";
    NotFromCard => "自助登记只能使用刚刚读取的身份证", "A self-service registration needs the ID card just read";
    LastAdmin => "这是本站最后一个可登录的管理员：请先添加或启用另一位管理员", "This is the station's last active admin: add or enable another admin first";
    OutOfScope => "此类别不在您负责的范围内", "This category is outside the ones you handle";
    OperatorState => "状态", "State";
    CanLogIn => "可登录", "can log in";
    Disabled => "已停用", "disabled";
    ChangeOperator => "修改", "Change";
    ChangeOperatorTitle => "修改操作员", "Change operator";
    NewPinOptional => "新 PIN（留空则不变）", "New PIN (empty keeps it)";
    MayLogIn => "可以登录", "May log in";
    AuditFilter => "参会者（ID 或注册码）", "Attendee (id or code)";
    TextFilter => "筛选（操作员、动作）", "Filter (operator, action)";
    Refresh => "刷新", "Refresh";
    At => "时间", "Time";
    Actor => "操作者", "Actor";
    Action => "动作", "Action";
    Detail => "详情", "Detail";
    CsvPath => "CSV 文件路径", "CSV file path";
    SkipInvalid => "跳过错误行，导入其余行", "Skip bad rows, import the rest";
    ImportRun => "导入", "Import";
    ImportSummary => "行数 / 新增 / 更新 / 未变 / 错误", "rows / new / updated / unchanged / invalid";
    ImportRejected => "有错误行，未导入任何数据", "Bad rows: nothing was imported";
    Line => "行", "Line";
    Field => "字段", "Field";
    Value => "值", "Value";
    Reason => "原因", "Reason";
    BackToDesk => "返回登记台", "Back to the desk";
    // Admin: event editor
    General => "基本信息", "General";
    EventNameEn => "活动英文名称", "Event name (English)";
    EventId => "活动 ID（不可更改）", "Event id (fixed)";
    FirstDay => "开始日期 (YYYY-MM-DD)", "First day (YYYY-MM-DD)";
    LastDay => "结束日期 (YYYY-MM-DD)", "Last day (YYYY-MM-DD)";
    ZoneNameZh => "区域中文名", "Zone name (Chinese)";
    ZoneNameEn => "区域英文名", "Zone name (English)";
    NewZoneId => "新区域 ID", "New zone id";
    AddZone => "添加区域", "Add zone";
    RemoveZone => "删除区域", "Remove zone";
    ZoneInUse => "有类别使用此区域，不能删除", "A category uses this zone: it cannot be removed";
    CategoryLabelZh => "类别中文名", "Category name (Chinese)";
    CategoryLabelEn => "类别英文名", "Category name (English)";
    BadgeColour => "胸卡颜色 (#RRGGBB)", "Badge colour (#RRGGBB)";
    NewCategoryId => "新类别 ID", "New category id";
    AddCategory => "添加类别", "Add category";
    RemoveCategory => "删除此新类别", "Remove this new category";
    IdsFixed => "类别 ID 已写入胸卡，不能更改或删除；新类别加在末尾", "Category ids are on badges: they cannot change or go; new categories are added at the end";
    AccessWindow => "入场时段", "Access window";
    AddWindow => "添加时段", "Add window";
    RemoveWindow => "删除此时段", "Remove this window";
    NoAccess => "此类别不能入场", "This category may not enter";
    AllowedZones => "可进入区域", "Zones allowed";
    AllZones => "全部区域（含以后新增）", "Every zone (and zones added later)";
    AccessDays => "可入场日期（都不选为每天）", "Days (none ticked: every day)";
    HoursFrom => "开始时间 (HH:MM)", "From (HH:MM)";
    HoursTo => "结束时间 (HH:MM)", "Until (HH:MM)";
    MustNotBeEmpty => "不能为空", "must not be empty";
    UnknownTimezone => "未知时区（例如 Asia/Shanghai）", "unknown time zone (e.g. Asia/Shanghai)";
    EndBeforeStart => "结束日期早于开始日期", "the last day is before the first day";
    BadColour => "颜色格式应为 #RRGGBB", "the colour must be #RRGGBB";
    BadTime => "时间格式应为 HH:MM", "the time must be HH:MM";
    HoursOrder => "结束时间须晚于开始时间", "the end must be after the start";
    ChooseAZone => "至少选择一个区域", "choose at least one zone";
    DayOutsideEvent => "有日期不在活动期间", "a day lies outside the event";
    LabelTaken => "与其他类别重名", "another category has this name";
    BadNewId => "ID 只能用字母、数字、- 或 _，且不能与已有 ID 重复", "An id is letters, digits, - or _, and not one in use";
    FixBeforeSave => "保存前请更正：", "Fix before saving:";
    RequiredFields => "登记必填项", "Required at registration";
    KioskWalkInCategory => "自助机现场登记类别", "Kiosk walk-ins register as";
    KioskWalkInNone => "无（请访客到登记台）", "none (visitors go to a desk)";
    MaxEntriesPerDay => "每天最多入场次数（空为不限）", "Entries per day at most (empty: no limit)";
    BadCount => "应为正整数或留空", "a whole number above 0, or empty";
    ZeroLimit => "至少为 1（不限请留空）", "at least 1 (empty: no limit)";
    Identifier => "编号", "Id";
    BadId => "只能用字母、数字、- 或 _", "letters, digits, - or _ only";
    UsedTwice => "与其他项重复", "used twice";
    CategoryCount => "活动需要 1 到 255 个类别", "an event needs 1 to 255 categories";
    UnknownFieldNamed => "未知字段", "unknown field";
    UnknownZoneNamed => "未知区域", "unknown zone";
    NotACategoryId => "不是本活动的类别 ID", "not a category id of this event";
    PassbackLabel => "防回传", "Anti-passback";
    PassbackOff => "关闭", "Off";
    PassbackSoft => "放行并标记", "Allow and flag";
    PassbackHard => "拒绝再次入场", "Deny a second entry";
    SaveEvent => "保存更改", "Save changes";
    RevertEvent => "撤销更改", "Revert changes";
    // Admin: device line settings
    ScannerBaud => "扫码枪波特率", "Scanner baud rate";
    ScannerLineEnd => "扫码枪结束符", "Scanner code ending";
    EndCr => "回车 (CR)", "Carriage return (CR)";
    EndLf => "换行 (LF)", "Line feed (LF)";
    EndCrLf => "回车换行 (CR LF)", "CR LF";
    EndTab => "制表符 (Tab)", "Tab";
    EndIdle => "无（停顿即结束）", "None (a pause ends the code)";
    StripAim => "去除 AIM 标识（如 ]Q1）", "Strip the AIM identifier (e.g. ]Q1)";
    StripPrefix => "去除前缀", "Prefix to strip";
    StripSuffix => "去除后缀", "Suffix to strip";
    Debounce => "重复扫码忽略时间", "Ignore repeated codes within";
    KeyboardScanGap => "键盘式扫码枪：按键最大间隔", "Keyboard scanner: longest gap between keys";
    IdReaderBaud => "身份证阅读器波特率", "ID reader baud rate";
    // Gate
    GateScanHint => "请扫描胸卡", "Scan a badge";
    GateValid => "通过", "Valid";
    // Issue 21: what operators and visitors meet first
    KioskAlreadyCollected => "您的胸卡已经领取过了。如果胸卡遗失，请到登记台补办", "Your badge has already been collected. If you lost it, the registration desk can replace it";
    KioskNotFound => "没有找到您的登记信息。请核对二维码，或到登记台现场登记", "We could not find your registration. Check the QR code, or register at the registration desk";
    KioskNotYetValid => "您的胸卡还未到有效日期，请在有效日期内前来", "Your badge is not valid yet: please come back on a day it is valid for";
    KioskExpired => "您的胸卡已过有效期，请到登记台咨询", "Your badge is no longer valid: please see the registration desk";
    KioskRevoked => "这张胸卡已作废，请到登记台咨询", "This badge has been cancelled: please see the registration desk";
    KioskPrinterTrouble => "打印机暂时无法打印您的胸卡，请到登记台领取", "The printer cannot print your badge right now: please collect it at the registration desk";
    KioskRegisterAtDesk => "本机不能办理新登记，请到登记台登记", "New registrations are not taken at this kiosk: please register at the registration desk";
    KioskStillThere => "您还在吗？", "Are you still there?";
    KioskResetIn => "为保护您的信息，将在", "To protect your details, this screen starts over in";
    KioskResetSeconds => "秒后返回首页", "seconds";
    KioskStillHere => "我还在，继续", "I am here, continue";
    KeyBackspace => "退格", "Backspace";
    KeySpace => "空格", "Space";
    KeyCapitals => "大写", "Capitals";
    KeypadTypingInto => "正在输入", "Typing into";
    VenueDayChanged => "场馆已过午夜，新的一天从零开始统计：", "The venue's day changed at midnight; figures start again from zero on";
    ShowYesterday => "查看前一天", "Show the day before:";
    AxisCount => "数量", "Count";
    SavedPrinting => "已保存，正在打印胸卡", "Saved; printing the badge";
    IssueReplacement => "补发新胸卡…", "Issue a replacement…";
    ReasonLost => "胸卡遗失", "Badge lost";
    ReasonDamaged => "胸卡损坏", "Badge damaged";
    ReasonDetailsWrong => "信息有误", "Details were wrong";
    ReasonMisused => "他人冒用", "Used by someone else";
    ReasonRulesBroken => "违反展会规定", "Broke the show's rules";
    ReasonDuplicate => "重复登记", "Registered twice";
    VerdictRevoked => "此胸卡已作废", "This badge has been revoked";
    VerdictSuperseded => "此胸卡已被新胸卡取代", "This badge was replaced by a newer one";
    VerdictNotYetValid => "此胸卡尚未生效", "This badge is not valid yet";
    VerdictExpired => "此胸卡已过有效期", "This badge has expired";
    RevokedAt => "作废时间", "Revoked at";
    RevokedBy => "作废人", "Revoked by";
    GateInsideSince => "入场时间", "Inside since";
    GateThroughLane => "通道", "through lane";
    AuditAttendee => "涉及人员", "Attendee";
    RunningNow => "当前", "Now";
    JobRequestedAt => "提交时间", "Asked for";
    JobUpdatedAt => "最后更新", "Last change";
    DetailSource => "来源", "Source";
    DetailPrevious => "原胸卡", "Previous badge";
    DetailFields => "修改的字段", "Fields changed";
    DetailPrintJob => "打印任务", "Print job";
    DetailEvent => "活动", "Event";
    DetailCreated => "新增", "New";
    DetailUpdated => "更新", "Updated";
    DetailUnchanged => "未变", "Unchanged";
    DetailSkipped => "跳过的错误行", "Bad rows skipped";
    DetailFrom => "原", "From";
    DetailTo => "改为", "To";
    DetailError => "错误", "Error";
    DetailPermission => "权限", "Permission";
    DetailAttendees => "参会者", "Attendees";
    All => "全部", "All";
    ActionLogin => "登录", "Logged in";
    ActionLoginFailed => "登录失败", "Login failed";
    ActionLoginLocked => "登录已锁定", "Login locked";
    ActionRegister => "登记", "Registered";
    ActionEdit => "修改资料", "Edited details";
    ActionImport => "导入", "Imported";
    ActionIssueBadge => "签发胸卡", "Issued a badge";
    ActionPrintBadge => "打印胸卡", "Printed a badge";
    ActionReprint => "补打胸卡", "Reprinted a badge";
    ActionPrintRetry => "重试打印", "Retried a print";
    ActionRevoke => "作废胸卡", "Revoked a badge";
    ActionRevealId => "查看完整证件号", "Showed the full ID number";
    ActionOperatorAdd => "添加操作员", "Added an operator";
    ActionOperatorChange => "修改操作员", "Changed an operator";
    ActionEventChange => "修改活动设置", "Changed the event";
    ActionDeviceSettings => "修改设备设置", "Changed device settings";
    ActionGateMode => "闸机模式变更", "Gate mode changed";
    ActionExport => "导出", "Exported";
    ActionSync => "同步", "Synchronised";
    // Camera as a scanner (desk, kiosk, admin Devices tab)
    Camera => "摄像头扫码", "Camera scanner";
    CameraLooking => "摄像头：请将二维码对准镜头", "Camera: hold the QR code up to the lens";
    CameraCodeSeen => "摄像头：已识别二维码", "Camera: QR code read";
    CameraFrames => "模拟摄像头（播放图片文件）", "Simulated camera (plays image files)";
    CameraFramesPath => "图片文件或文件夹", "Image file or folder";
    CameraNoSupport => "此版本不含摄像头支持（需 camera 功能编译）", "This build has no camera support (build with the camera feature)";
    DemoShowToCamera => "向摄像头出示刚打印的胸卡", "Show the badge just printed to the camera";
    // Registration sources (audit log) and the admin's test print (Devices tab)
    SourcePreRegistered => "预登记", "Pre-registered";
    SourceWalkIn => "现场登记", "Walk-in";
    SourceSelfService => "自助机登记", "Self-service kiosk";
    TestPrint => "打印测试胸卡", "Print a test badge";
    TestPrintSent => "测试胸卡已发送到打印机", "Test badge sent to the printer";
    BadgeTemplate => "胸卡模板", "Badge template";
    UnknownTemplateNamed => "没有这个胸卡模板", "No such badge template";
}

/// The label of a form field as the domain names it in a [`crate::domain::FieldError`].
pub fn field_label(field: &str) -> Txt {
    match field {
        "company" => Txt::Company,
        "title" => Txt::JobTitle,
        "category" => Txt::Category,
        "phone" => Txt::Phone,
        "email" => Txt::Email,
        "country" => Txt::Country,
        "id_type" => Txt::IdType,
        "id_number" => Txt::IdNumber,
        "registration_code" => Txt::RegistrationCode,
        "consent" => Txt::Consent,
        "tags" => Txt::Tags,
        "chinese_name" => Txt::ChineseName,
        _ => Txt::Name,
    }
}

/// An operator role's name (the station modes carry the same words).
pub fn role_label(role: crate::operators::Role) -> Txt {
    use crate::operators::Role;
    match role {
        Role::Admin => Txt::ModeAdmin,
        Role::Desk => Txt::ModeDesk,
        Role::Kiosk => Txt::ModeKiosk,
        Role::Gate => Txt::ModeGate,
    }
}

/// The label of an event definition's field, as the admin's editor shows it.
pub fn event_field_label(field: EventField) -> Txt {
    match field {
        EventField::EventId => Txt::EventId,
        EventField::EventName => Txt::EventName,
        EventField::Venue => Txt::Venue,
        EventField::Timezone => Txt::Timezone,
        EventField::FirstDay => Txt::FirstDay,
        EventField::LastDay => Txt::LastDay,
        EventField::Categories => Txt::Categories,
        EventField::KioskWalkInCategory => Txt::KioskWalkInCategory,
        EventField::ZoneId | EventField::CategoryId => Txt::Identifier,
        EventField::ZoneName => Txt::ZoneNameZh,
        EventField::ZoneNameEn => Txt::ZoneNameEn,
        EventField::LabelZh => Txt::CategoryLabelZh,
        EventField::LabelEn => Txt::CategoryLabelEn,
        EventField::Colour => Txt::BadgeColour,
        EventField::Required => Txt::RequiredFields,
        EventField::MaxEntriesPerDay => Txt::MaxEntriesPerDay,
        EventField::AllowedZones => Txt::AllowedZones,
        EventField::AccessDays => Txt::AccessDays,
        EventField::HoursFrom => Txt::HoursFrom,
        EventField::HoursTo => Txt::HoursTo,
        EventField::BadgeTemplate => Txt::BadgeTemplate,
    }
}

/// What is wrong with an event definition's field, in `lang`.
pub fn event_problem_message(kind: &EventProblemKind, lang: Lang) -> String {
    use EventProblemKind as K;
    let text = match kind {
        K::Empty => Txt::MustNotBeEmpty,
        K::BadId => Txt::BadId,
        K::UnknownTimezone => Txt::UnknownTimezone,
        K::EndBeforeStart => Txt::EndBeforeStart,
        K::CategoryCount => Txt::CategoryCount,
        K::Duplicate => Txt::UsedTwice,
        K::BadColour => Txt::BadColour,
        K::NoZone => Txt::ChooseAZone,
        K::DayOutsideEvent => Txt::DayOutsideEvent,
        K::HoursOrder => Txt::HoursOrder,
        K::ZeroLimit => Txt::ZeroLimit,
        K::BadDate => Txt::BadDate,
        K::BadTime => Txt::BadTime,
        K::BadCount => Txt::BadCount,
        K::UnknownField(name) => return format!("{}: {name}", Txt::UnknownFieldNamed.get(lang)),
        K::UnknownZone(name) => return format!("{}: {name}", Txt::UnknownZoneNamed.get(lang)),
        K::UnknownCategory(id) => return format!("{}: {id}", Txt::NotACategoryId.get(lang)),
        K::UnknownTemplate(name) => {
            return format!("{}: {name}", Txt::UnknownTemplateNamed.get(lang))
        }
    };
    text.get(lang).to_owned()
}

/// Where an event definition's problem is: nothing for the event itself, a zone's or a
/// category's id, or a category's access window by its number.
pub fn event_place(place: &EventPlace, lang: Lang) -> String {
    match place {
        EventPlace::Event => String::new(),
        EventPlace::Zone(id) | EventPlace::Category(id) => id.clone(),
        EventPlace::Window { category, number } => {
            format!("{category} · {} {number}", Txt::AccessWindow.get(lang))
        }
    }
}

/// The name of an ID document type.
pub fn id_type_label(id_type: crate::domain::IdType) -> Txt {
    use crate::domain::IdType;
    match id_type {
        IdType::ResidentId => Txt::IdResident,
        IdType::ForeignPermanentResidence => Txt::IdForeignResidence,
        IdType::Passport => Txt::IdPassport,
        IdType::HkMacauPermit => Txt::IdHkMacau,
        IdType::TaiwanPermit => Txt::IdTaiwan,
    }
}

/// What is wrong with a registration's field, in `lang`. English is the problem's own
/// `Display`, which the CLI and import reports print too.
pub fn field_problem(problem: &FieldProblem, lang: Lang) -> String {
    use FieldProblem as F;
    if lang == Lang::En {
        return problem.to_string();
    }
    match problem {
        F::Required => "必填".into(),
        F::TooLong { max } => format!("超过 {max} 个字符"),
        F::ControlCharacters => "含有控制字符".into(),
        F::TooManyTags { max } => format!("标签超过 {max} 个"),
        F::TagTooLong { max } => format!("有标签超过 {max} 个字符"),
        F::RegistrationCodeCharacters => "注册码只能包含字母、数字、- 和 _".into(),
        F::UnknownCategory { given } => format!("未知类别“{given}”"),
        F::RequiredForCategory { category } => format!("类别 {category} 必填"),
        F::NoSelfServiceWalkIns => "本活动不在自助机登记现场观众".into(),
        F::SelfServiceCategoryOnly { category } => {
            format!("自助机只登记类别 {category} 的现场观众")
        }
        F::RequiredForSelfService => "自助登记必填".into(),
        F::UnknownIdType { given } => format!("未知证件类型“{given}”"),
        F::Phone(PhoneProblem::Characters) => "电话号码只能包含数字、空格、+、- 和括号".into(),
        F::Phone(PhoneProblem::International) => "国际号码须为 +国家代码 加 7 至 15 位数字".into(),
        F::Phone(PhoneProblem::MainlandMobile) => {
            "大陆手机号须为 13 至 19 开头的 11 位数字（境外号码请加 +国家代码）".into()
        }
        F::InvalidEmail => "邮箱地址无效".into(),
        F::IdNumber(problem) => id_number_problem_zh(problem),
        F::OutsideOperatorCategories => "不在导入操作员可管理的类别内".into(),
        F::CodeOrIdNumberNeeded => "需要注册码或证件号码，以免重复导入同一人".into(),
        F::RequiredForUpsert => "必填：登记按注册码更新".into(),
        F::AlsoOnLine { line } => format!("第 {line} 行也有此值，但属于另一人"),
        // The CSV reader's own words stay in the English report.
        F::NotValidCsv { .. } => "不是有效的 CSV 行（引号未闭合或列数不符）".into(),
    }
}

fn id_number_problem_zh(problem: &IdNumberProblem) -> String {
    use IdNumberProblem as P;
    match problem {
        P::ResidentIdLength { got } => format!("居民身份证号码须为 18 位，当前为 {got} 位"),
        P::First17NotDigits => "前 17 位须为数字".into(),
        P::CheckDigit => "校验码不符（GB 11643-1999）".into(),
        P::RegionNotNumeric => "地区码不是数字".into(),
        P::NotAProvince { code } => format!("地区码 {code:02} 不是中国的省级行政区"),
        P::BirthDateNotADate => "号码中的出生日期不存在".into(),
        P::BirthDateImplausible => "号码中的出生日期不合理".into(),
        P::PermanentResidenceFormat => {
            "永久居留证号码须为 3 个字母加 12 位数字（2004 版）或以 9 开头的 18 位（2023 版）"
                .into()
        }
        P::HkMacauFormat => "港澳通行证号码须为 H 或 M 加 8 或 10 位数字".into(),
        P::Pattern { id_type, min, max } => {
            format!("{}号码须为 {min} 至 {max} 位字母或数字", id_type_label(*id_type).get(Lang::Zh))
        }
    }
}

/// The words of a refusal the operator can put right.
pub fn refusal(refusal: Refusal) -> Txt {
    match refusal {
        Refusal::NotFromCard => Txt::NotFromCard,
        Refusal::WeakPin => Txt::WeakPin,
        Refusal::BadOperatorName => Txt::BadOperatorName,
        Refusal::OperatorExists => Txt::OperatorExists,
        Refusal::LastAdmin => Txt::LastAdmin,
        Refusal::OutOfScope => Txt::OutOfScope,
    }
}

/// Why a badge did not print, in `lang`. The Chinese text names the fault and what to do;
/// the operating system's own words stay in the English text and the log.
pub fn print_problem(problem: &PrintProblem, lang: Lang) -> String {
    use PrintProblem as P;
    if lang == Lang::En {
        return problem.to_string();
    }
    match problem {
        P::NoPrinter => "本工作站未设置打印机".into(),
        P::UnknownPrinter(name) => format!("未知打印机 {name}"),
        P::PrinterSettings => "打印机设置（printers.toml）有误".into(),
        P::ReasonRequired => "补打需要填写原因".into(),
        P::AlreadyPrinted { serial } => {
            format!("第 {serial} 张证件已打印；如需再打请选择补打并填写原因")
        }
        P::NotPrintable { serial, status } => {
            let status = match status.as_str() {
                "revoked" => "已吊销",
                "superseded" => "已被新证取代",
                _ => "不可用",
            };
            format!("第 {serial} 张证件{status}，不能打印")
        }
        P::Printer { printer, fault } => format!("打印机 {printer}：{}", printer_fault_zh(fault)),
        P::QueueUnavailable { .. } => "打印队列不可用（详情见日志）".into(),
        P::Interrupted => "交给打印机时被中断：请查看胸卡是否已打印，未打印则重试失败的任务".into(),
        P::CannotRender { .. } => "无法生成胸卡：请检查胸卡模板和活动设置（详情见日志）".into(),
    }
}

fn printer_fault_zh(fault: &PrinterFault) -> String {
    use PrinterFault as F;
    match fault {
        F::StageFile { .. } => "无法写入胸卡文件（检查磁盘空间）".into(),
        F::SpoolWrite { dir, .. } => {
            format!("无法写入打印文件夹 {}（检查权限与磁盘空间）", dir.display())
        }
        F::SpoolPublish { dir, .. } => format!("无法把胸卡移入打印文件夹 {}", dir.display()),
        F::NothingStaged => "胸卡文件尚未准备好".into(),
        F::LpMissing => "缺少 lp 命令：请安装 CUPS（Debian：cups-client）".into(),
        F::LpNotRun { .. } => "无法运行 lp 命令".into(),
        F::LpRefused { queue, .. } => {
            format!("打印系统拒收（队列 {queue}）：检查打印机是否存在并已启用")
        }
        F::LpNoRequestId { .. } => "打印系统未返回作业编号".into(),
        F::Lpstat { .. } => "无法查询打印系统（lpstat）".into(),
    }
}

/// Where a registration came from.
pub fn source_label(source: crate::domain::Source) -> Txt {
    use crate::domain::Source;
    match source {
        Source::PreRegistered => Txt::SourcePreRegistered,
        Source::WalkIn => Txt::SourceWalkIn,
        Source::SelfService => Txt::SourceSelfService,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_has_both_languages_and_they_differ_where_words_exist() {
        for text in Txt::ALL {
            let (zh, en) = (text.get(Lang::Zh), text.get(Lang::En));
            assert!(!zh.trim().is_empty() && !en.trim().is_empty(), "{text:?}");
            assert!(!zh.is_ascii() || zh.contains("expo-kiosk"), "{text:?} has no Chinese: {zh}");
        }
    }

    /// One of each [`FieldProblem`]; the match below stops compiling when a variant is
    /// added, so it cannot be forgotten here.
    fn every_field_problem() -> Vec<FieldProblem> {
        use crate::domain::IdType;
        use FieldProblem as F;
        use IdNumberProblem as P;
        let all = vec![
            F::Required,
            F::TooLong { max: 200 },
            F::ControlCharacters,
            F::TooManyTags { max: 64 },
            F::TagTooLong { max: 200 },
            F::RegistrationCodeCharacters,
            F::UnknownCategory { given: "vip".into() },
            F::RequiredForCategory { category: "exhibitor".into() },
            F::NoSelfServiceWalkIns,
            F::SelfServiceCategoryOnly { category: "visitor".into() },
            F::RequiredForSelfService,
            F::UnknownIdType { given: "driving licence".into() },
            F::Phone(PhoneProblem::Characters),
            F::Phone(PhoneProblem::International),
            F::Phone(PhoneProblem::MainlandMobile),
            F::InvalidEmail,
            F::IdNumber(P::ResidentIdLength { got: 17 }),
            F::IdNumber(P::First17NotDigits),
            F::IdNumber(P::CheckDigit),
            F::IdNumber(P::RegionNotNumeric),
            F::IdNumber(P::NotAProvince { code: 99 }),
            F::IdNumber(P::BirthDateNotADate),
            F::IdNumber(P::BirthDateImplausible),
            F::IdNumber(P::PermanentResidenceFormat),
            F::IdNumber(P::HkMacauFormat),
            F::IdNumber(P::Pattern { id_type: IdType::Passport, min: 5, max: 20 }),
            F::OutsideOperatorCategories,
            F::CodeOrIdNumberNeeded,
            F::RequiredForUpsert,
            F::AlsoOnLine { line: 7 },
            F::NotValidCsv { detail: "found record with 3 fields".into() },
        ];
        for problem in &all {
            match problem {
                F::Required
                | F::TooLong { .. }
                | F::ControlCharacters
                | F::TooManyTags { .. }
                | F::TagTooLong { .. }
                | F::RegistrationCodeCharacters
                | F::UnknownCategory { .. }
                | F::RequiredForCategory { .. }
                | F::NoSelfServiceWalkIns
                | F::SelfServiceCategoryOnly { .. }
                | F::RequiredForSelfService
                | F::UnknownIdType { .. }
                | F::Phone(PhoneProblem::Characters | PhoneProblem::International)
                | F::Phone(PhoneProblem::MainlandMobile)
                | F::InvalidEmail
                | F::OutsideOperatorCategories
                | F::CodeOrIdNumberNeeded
                | F::RequiredForUpsert
                | F::AlsoOnLine { .. }
                | F::NotValidCsv { .. } => {}
                F::IdNumber(problem) => match problem {
                    P::ResidentIdLength { .. }
                    | P::First17NotDigits
                    | P::CheckDigit
                    | P::RegionNotNumeric
                    | P::NotAProvince { .. }
                    | P::BirthDateNotADate
                    | P::BirthDateImplausible
                    | P::PermanentResidenceFormat
                    | P::HkMacauFormat
                    | P::Pattern { .. } => {}
                },
            }
        }
        all
    }

    /// Words of four or more Latin letters: English prose, as opposed to a code such as
    /// `GB`, `CSV`, `H` or a value the operator typed.
    fn english_words(text: &str) -> Vec<&str> {
        text.split(|c: char| !c.is_ascii_alphabetic()).filter(|word| word.len() >= 4).collect()
    }

    #[test]
    fn every_field_problem_reads_in_both_languages() {
        for problem in every_field_problem() {
            let (zh, en) = (field_problem(&problem, Lang::Zh), field_problem(&problem, Lang::En));
            assert_eq!(en, problem.to_string());
            assert!(!en.trim().is_empty() && !zh.trim().is_empty(), "{problem:?}");
            // Import reports carry it as JSON (`--json`, the hub's answers).
            let json = serde_json::to_string(&problem).unwrap();
            assert_eq!(serde_json::from_str::<FieldProblem>(&json).unwrap(), problem, "{json}");
            // Values the operator gave (a category, an ID type) are quoted back as they are.
            let quoted = match &problem {
                FieldProblem::UnknownIdType { given } | FieldProblem::UnknownCategory { given } => {
                    english_words(given)
                }
                FieldProblem::RequiredForCategory { category }
                | FieldProblem::SelfServiceCategoryOnly { category } => english_words(category),
                _ => Vec::new(),
            };
            let prose: Vec<&str> =
                english_words(&zh).into_iter().filter(|word| !quoted.contains(word)).collect();
            assert!(prose.is_empty(), "English in the Chinese text of {problem:?}: {zh}");
        }
    }

    /// One of each [`PrintProblem`] and [`PrinterFault`]; the matches stop compiling when a
    /// variant is added.
    fn every_print_problem() -> Vec<PrintProblem> {
        use PrintProblem as P;
        use PrinterFault as F;
        let dir = std::path::PathBuf::from("/srv/badges");
        let faults = vec![
            F::StageFile { detail: "No space left on device".into() },
            F::SpoolWrite { dir: dir.clone(), detail: "Permission denied".into() },
            F::SpoolPublish { dir, detail: "Permission denied".into() },
            F::NothingStaged,
            F::LpMissing,
            F::LpNotRun { detail: "Permission denied".into() },
            F::LpRefused {
                queue: "Badges".into(),
                detail: "lp: The printer does not exist".into(),
            },
            F::LpNoRequestId { detail: "nothing".into() },
            F::Lpstat { detail: "Permission denied".into() },
        ];
        for fault in &faults {
            match fault {
                F::StageFile { .. }
                | F::SpoolWrite { .. }
                | F::SpoolPublish { .. }
                | F::NothingStaged
                | F::LpMissing
                | F::LpNotRun { .. }
                | F::LpRefused { .. }
                | F::LpNoRequestId { .. }
                | F::Lpstat { .. } => {}
            }
        }
        let mut all = vec![
            P::NoPrinter,
            P::UnknownPrinter("front".into()),
            P::PrinterSettings,
            P::ReasonRequired,
            P::AlreadyPrinted { serial: 1 },
            P::NotPrintable { serial: 2, status: "revoked".into() },
            P::NotPrintable { serial: 2, status: "superseded".into() },
            P::QueueUnavailable { detail: "database is locked".into() },
            P::Interrupted,
            P::CannotRender { detail: "the badge font cannot be used".into() },
        ];
        for problem in &all {
            match problem {
                P::NoPrinter
                | P::UnknownPrinter(_)
                | P::PrinterSettings
                | P::ReasonRequired
                | P::AlreadyPrinted { .. }
                | P::NotPrintable { .. }
                | P::Printer { .. }
                | P::QueueUnavailable { .. }
                | P::Interrupted
                | P::CannotRender { .. } => {}
            }
        }
        all.extend(
            faults.into_iter().map(|fault| P::Printer { printer: "cups:Badges".into(), fault }),
        );
        all
    }

    #[test]
    fn every_print_problem_reads_in_both_languages() {
        // Names of files, commands and packages the operator types as they are.
        const NAMES: [&str; 10] = [
            "printers", "toml", "Debian", "cups", "client", "lpstat", "CUPS", "Badges", "front",
            "badges",
        ];
        for problem in every_print_problem() {
            let (zh, en) = (print_problem(&problem, Lang::Zh), print_problem(&problem, Lang::En));
            assert_eq!(en, problem.to_string());
            // A print job stores it as JSON.
            let json = serde_json::to_string(&problem).unwrap();
            assert_eq!(serde_json::from_str::<PrintProblem>(&json).unwrap(), problem, "{json}");
            let prose: Vec<&str> =
                english_words(&zh).into_iter().filter(|word| !NAMES.contains(word)).collect();
            assert!(prose.is_empty(), "English in the Chinese text of {problem:?}: {zh}");
        }
    }

    #[test]
    fn language_codes_parse() {
        assert_eq!(Lang::parse("zh-CN"), Some(Lang::Zh));
        assert_eq!(Lang::parse("EN"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::En.pick("参展商", "Exhibitor"), "Exhibitor");
        assert_eq!(Lang::En.pick("参展商", ""), "参展商");
    }
}
