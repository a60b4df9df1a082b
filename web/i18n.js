// Russian and English texts of the cabinet. The language comes from the server (which read
// Accept-Language) unless the user picked one with the switch.
const T = {
  en: {
    login: 'Sign in', login_hint: 'Operator: login. Staff: extension@company, e.g. 101@acme', password: 'Password',
    logout: 'Sign out', wrong_login: 'Wrong login or password', suspended: 'The company account is suspended',
    dashboard: 'Dashboard', users: 'Users', numbers: 'Numbers', plugins: 'Plugins', prompts: 'Greetings & music',
    recordings: 'Recordings', calls: 'Call log', stats: 'Statistics', queues: 'Queues', tokens: 'API tokens',
    tenants: 'Tenants', trunks: 'Trunks', account: 'Account', forwarding: 'Forwarding',
    live_calls: 'Calls now', today: 'Today', total: 'Total', answered: 'Answered', missed: 'Missed', made: 'Made',
    received: 'Received', avg_talk: 'Avg inbound talk, s', no_calls: 'No calls right now',
    ext: 'Extension', name: 'Name', role: 'Role', web_login: 'Cabinet login', create: 'Create', delete: 'Delete',
    save: 'Save', cancel: 'Cancel', add: 'Add', sip_password: 'SIP password (empty: generated)', web_password: 'Cabinet password',
    user: 'user', supervisor: 'supervisor', operator: 'operator', number: 'Number', trunk: 'Trunk', scenario: 'Scenario',
    default_setup: 'default: everyone rings', edit: 'Edit', upload: 'Upload', file: 'File', duration: 'Length',
    listen: 'Listen', download: 'Download WAV', from: 'From', to: 'To', direction: 'Direction', disposition: 'Result',
    caller: 'Caller', callee: 'Called', started: 'Started', talk: 'Talk, s', search: 'Search', more: 'More',
    csv: 'Export CSV', any: 'any', inbound: 'inbound', outbound: 'outbound', internal: 'internal', busy: 'busy',
    failed: 'failed', interrupted: 'interrupted', period: 'Period', waiting: 'Waiting', agents: 'Agents',
    pause: 'Pause', unpause: 'Unpause', state: 'State', label: 'Label', token_once: 'Copy the token now: it is not shown again',
    revoke: 'Revoke', suspend: 'Suspend', resume: 'Resume', balance: 'Balance', status: 'Status', domain: 'SIP domain',
    slug: 'Short name', set_balance: 'Set balance', version: 'Version', source: 'Source', enabled: 'Enabled',
    capabilities: 'Asks for', grant: 'Grant', enable: 'Enable', disable: 'Disable', upload_plugin: 'Upload a plugin (.wasm)',
    always: 'Always', on_busy: 'When busy', no_answer: 'No answer', after_s: 'after, s', unreachable: 'Unreachable',
    change_password: 'Change password', current_password: 'Current password', new_password: 'New password',
    saved: 'Saved', node: 'Node', add_node: 'Add node', start: 'Start', set_start: 'Make start', test: 'Test this scenario',
    at: 'Call time', digits: 'Keys pressed', outputs: 'Outputs', type: 'Type', plugin: 'Plugin', targets: 'Targets',
    timeout: 'Timeout, s', queue: 'Queue', json: 'JSON', path: 'Path', result: 'Result', settings: 'Settings',
    nothing: 'Nothing here yet', details: 'Details', timeline: 'Timeline', legs: 'Who rang', forbidden: 'Not allowed',
    sip_account: 'SIP account', new_sip_password: 'New SIP password', shown_once: 'Write it down: it is shown only this once.',
    new_sip_password_confirm: 'Generate a new SIP password? The phones of this user must be set up with it again.',
    throttled: 'Too many failed attempts: try again in {s} s.', attempts_left: 'Attempts left before a pause: {n}', show: 'Show', chart: 'Chart', callers: 'Callers', position: 'Position', waited: 'Waited, s',
    contacts: 'Contacts', company: 'Company', note: 'Note', add_contact: 'Add or change a contact', import_csv: 'Import from CSV',
    import_hint: 'A header line, then one contact per line: number, name, company, note (comma or semicolon; UTF-8). A number already in the book gets the new name.',
    imported: 'Imported: {a} new, {r} changed', import_failed: 'Nothing imported', login_field: 'Login',
    source_cabinet: 'cabinet', source_import: 'import', source_cli: 'command line', source_api: 'API',
  },
  ru: {
    login: 'Войти', login_hint: 'Оператор: логин. Сотрудник: добавочный@компания, например 101@acme', password: 'Пароль',
    logout: 'Выйти', wrong_login: 'Неверный логин или пароль', suspended: 'Аккаунт компании приостановлен',
    dashboard: 'Обзор', users: 'Сотрудники', numbers: 'Номера', plugins: 'Модули', prompts: 'Приветствия и музыка',
    recordings: 'Записи', calls: 'Журнал звонков', stats: 'Статистика', queues: 'Очереди', tokens: 'API-токены',
    tenants: 'Клиенты', trunks: 'Транки', account: 'Профиль', forwarding: 'Переадресация',
    live_calls: 'Сейчас разговаривают', today: 'Сегодня', total: 'Всего', answered: 'Отвечено', missed: 'Пропущено',
    made: 'Исходящих', received: 'Входящих', avg_talk: 'Средний входящий, с', no_calls: 'Сейчас звонков нет',
    ext: 'Добавочный', name: 'Имя', role: 'Роль', web_login: 'Вход в кабинет', create: 'Создать', delete: 'Удалить',
    save: 'Сохранить', cancel: 'Отмена', add: 'Добавить', sip_password: 'SIP-пароль (пусто: сгенерировать)',
    web_password: 'Пароль кабинета', user: 'сотрудник', supervisor: 'руководитель', operator: 'оператор', number: 'Номер',
    trunk: 'Транк', scenario: 'Сценарий', default_setup: 'по умолчанию: звонят все', edit: 'Изменить', upload: 'Загрузить',
    file: 'Файл', duration: 'Длительность', listen: 'Слушать', download: 'Скачать WAV', from: 'С', to: 'По',
    direction: 'Направление', disposition: 'Итог', caller: 'Кто звонил', callee: 'Кому', started: 'Начало',
    talk: 'Разговор, с', search: 'Найти', more: 'Ещё', csv: 'Выгрузить CSV', any: 'любое', inbound: 'входящий',
    outbound: 'исходящий', internal: 'внутренний', busy: 'занято', failed: 'ошибка', interrupted: 'прерван',
    period: 'Период', waiting: 'Ожидают', agents: 'Операторы', pause: 'Пауза', unpause: 'Снять паузу', state: 'Состояние',
    label: 'Назначение', token_once: 'Скопируйте токен сейчас: он больше не будет показан', revoke: 'Отозвать',
    suspend: 'Приостановить', resume: 'Возобновить', balance: 'Баланс', status: 'Статус', domain: 'SIP-домен',
    slug: 'Короткое имя', set_balance: 'Задать баланс', version: 'Версия', source: 'Источник', enabled: 'Включён',
    capabilities: 'Запрашивает', grant: 'Разрешить', enable: 'Включить', disable: 'Выключить',
    upload_plugin: 'Загрузить модуль (.wasm)', always: 'Всегда', on_busy: 'Если занято', no_answer: 'Нет ответа',
    after_s: 'через, с', unreachable: 'Недоступен', change_password: 'Сменить пароль', current_password: 'Текущий пароль',
    new_password: 'Новый пароль', saved: 'Сохранено', node: 'Узел', add_node: 'Добавить узел', start: 'Начало',
    set_start: 'Сделать началом', test: 'Проверить сценарий', at: 'Время звонка', digits: 'Нажатые клавиши',
    outputs: 'Выходы', type: 'Тип', plugin: 'Модуль', targets: 'Кому звонить', timeout: 'Тайм-аут, с', queue: 'Очередь',
    json: 'JSON', path: 'Путь', result: 'Итог', settings: 'Настройки', nothing: 'Пока ничего нет', details: 'Подробно',
    timeline: 'Ход звонка', legs: 'Кому звонило', forbidden: 'Нет доступа', sip_account: 'SIP-учётная запись', new_sip_password: 'Новый SIP-пароль', shown_once: 'Запишите его: он показывается только один раз.',
    new_sip_password_confirm: 'Создать новый SIP-пароль? Телефоны этого пользователя придётся настроить заново.',
    throttled: 'Слишком много неудачных попыток: повторите через {s} с.', attempts_left: 'Попыток до паузы: {n}',
    show: 'Показать', chart: 'График', callers: 'Абоненты', position: 'Место', waited: 'Ждёт, с',
    contacts: 'Контакты', company: 'Компания', note: 'Примечание', add_contact: 'Добавить или изменить контакт', import_csv: 'Загрузить из CSV',
    import_hint: 'Первая строка — названия столбцов, дальше по контакту в строке: номер, имя, компания, примечание (через запятую или точку с запятой; UTF-8). Номер, который уже есть в книге, получит новое имя.',
    imported: 'Загружено: новых {a}, изменено {r}', import_failed: 'Ничего не загружено', login_field: 'Логин',
    source_cabinet: 'кабинет', source_import: 'загрузка', source_cli: 'командная строка', source_api: 'API',
  },
};

let lang = localStorage.getItem('lang') || (document.documentElement.lang === 'ru' ? 'ru' : 'en');

/** The current language. */
export function currentLang() { return lang; }

/** Switches the language (remembered in this browser). */
export function setLang(l) { lang = T[l] ? l : 'en'; localStorage.setItem('lang', lang); document.documentElement.lang = lang; }

/** The text of a key in the current language. */
export function t(key) { return (T[lang] && T[lang][key]) || T.en[key] || key; }
