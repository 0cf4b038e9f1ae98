"""Drafts on a phone a household shares, in Debian's Chromium at 390×844: a challenge draft
(with its author's phone number in it) belongs to the account it was written under. It is
cleared at sign-out and at account deletion, never shown to the next person who signs in on
the same browser, and never sent under their account: not from storage, not from a page the
first person left open. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Submission
from tests import factories
from tests.browser import live_server, phone_browser, seeded_database, sign_in

pytestmark = pytest.mark.browser
LESSON = "b1-01-ai-la-gi"
SUBMISSIONS = f"**/api/v1/lessons/{LESSON}/submissions"
WORDS = (
    "Bài làm của Nguyễn Thị Hồng Nhung, số điện thoại 0912000301: câu hỏi đầu tiên gửi AI là tôi "
    "bán chè ở chợ xã, hãy gợi ý tin nhắn mời khách; câu hỏi tiếp là viết ngắn hơn, thêm ví dụ."
)
DRAFTS = """() => Object.fromEntries(Object.keys(localStorage)
    .filter(k => k.startsWith('bdhai:draft:')).map(k => [k, localStorage.getItem(k)]))"""


@pytest.fixture(scope="module")
def site(tmp_path_factory, settings):
    with seeded_database(tmp_path_factory.mktemp("live"), "drafts") as (url, engine):
        with Session(engine) as session:
            tree = factories.make_tree(session)
            people = {
                key: factories.make_user(session, tree.hamlet, name=name, phone=phone)
                for key, name, phone in (
                    ("a", "Nguyễn Thị Hồng Nhung", "+84912000301"),
                    ("b", "Nguyễn Văn Bình", "+84912000302"),
                    ("c", "Lò Thị Chăm", "+84912000303"),
                    ("d", "Hà Văn Dũng", "+84912000304"),
                )
            }
            session.commit()
            accounts = {key: (u.id, u.phone) for key, u in people.items()}
        live = settings.model_copy(
            update={
                "database_url": url,
                "media_dir": tmp_path_factory.mktemp("media"),
                "grading_worker": "off",
            }
        )
        with live_server(live) as base:
            yield base, engine, accounts


def sent(engine, *, text: str | None = None, user_id: int | None = None) -> list[Submission]:
    with Session(engine) as session:
        query = select(Submission)
        if text is not None:
            query = query.where(Submission.text == text)
        if user_id is not None:
            query = query.where(Submission.user_id == user_id)
        return list(session.scalars(query))


def queue_offline(context, page, base: str, words: str = WORDS) -> None:
    """Type a challenge with no network and press send: it waits on the phone."""
    page.goto(f"{base}/lessons/{LESSON}#challenge")
    context.set_offline(True)
    page.locator("#challenge-text").fill(words)
    page.get_by_role("button", name="Gửi bài để chấm").first.click()
    assert "sẽ tự gửi khi có mạng" in page.locator("#challenge .form-msg").inner_text()


def sign_out(page, base: str) -> None:
    page.goto(base + "/account/password")
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url(base + "/login")


def shot(page, artifacts, name: str) -> None:
    page.screenshot(path=str(artifacts / f"drafts-{name}.png"), full_page=True)


def test_a_draft_does_not_follow_the_next_person_on_a_shared_phone(site, artifacts):
    """A queues a send offline, closes the tab, signs out; B signs in on the same browser
    and opens the same lesson: an empty textarea, nothing sent under B, none of A's
    drafts left in storage."""
    base, engine, accounts = site
    a_id, a_phone = accounts["a"]
    b_id, b_phone = accounts["b"]
    with phone_browser() as context:
        page = context.new_page()
        sign_in(page, base, a_phone)
        queue_offline(context, page, base)
        stored = page.evaluate(DRAFTS)
        assert len(stored) == 1 and "0912000301" in next(iter(stored.values()))
        assert f":a{a_id}:" in next(iter(stored))  # the key names A's account
        page.close()  # the tab is gone; the network comes back
        context.set_offline(False)

        page = context.new_page()
        sign_out(page, base)
        assert page.evaluate(DRAFTS) == {}

        sign_in(page, base, b_phone)
        page.goto(f"{base}/lessons/{LESSON}#challenge")
        assert page.locator("#challenge-text").input_value() == ""
        assert page.locator("#challenge .form-msg").is_hidden()
        page.wait_for_timeout(1500)  # time for any automatic send to happen
        assert sent(engine, text=WORDS) == [] and sent(engine, user_id=b_id) == []
        assert page.evaluate(DRAFTS) == {}
        page.locator("#challenge").screenshot(path=str(artifacts / "drafts-next-person.png"))


def test_a_stale_draft_of_another_account_is_neither_loaded_nor_sent(site, artifacts):
    """A's session ends without the sign-out form (it expired, or the cookies went): A's
    waiting draft, and one from before drafts named their account, are still in storage
    when B signs in. B's pages drop them unread and send nothing."""
    base, engine, accounts = site
    a_id, a_phone = accounts["a"]
    b_id, b_phone = accounts["b"]
    legacy = WORDS.replace("0912000301", "0912000399")
    with phone_browser() as context:
        page = context.new_page()
        sign_in(page, base, a_phone)
        queue_offline(context, page, base)
        page.close()
        context.clear_cookies()  # A's session is gone, the form was never used
        context.set_offline(False)
        page = context.new_page()
        page.goto(base + "/login")
        page.evaluate(
            """([lesson, text]) => localStorage.setItem('bdhai:draft:' + lesson + ':challenge',
                JSON.stringify({text: text, client_id: 'legacy0001', pending: true}))""",
            [LESSON, legacy],
        )
        assert len(page.evaluate(DRAFTS)) == 2  # a signed-out page keeps them (A may be back)

        sign_in(page, base, b_phone)
        assert page.evaluate(DRAFTS) == {}
        page.goto(f"{base}/lessons/{LESSON}#challenge")
        assert page.locator("#challenge-text").input_value() == ""
        page.wait_for_timeout(1500)
        assert sent(engine, text=WORDS) == [] and sent(engine, text=legacy) == []
        assert sent(engine, user_id=b_id) == [] and sent(engine, user_id=a_id) == []


def test_a_tab_left_open_never_sends_its_draft_under_the_next_account(site, artifacts):
    """C's lesson tab holds a send that failed (no network) when D signs in on the same
    browser without any page of ours running first; the tab's network comes back: the
    server refuses the send (its draft names C's account, and its form token belongs to C's
    session), nothing is sent under D, and D's first page drops C's draft."""
    base, engine, accounts = site
    _c_id, c_phone = accounts["c"]
    d_id, d_phone = accounts["d"]
    with phone_browser() as context:
        tab = context.new_page()
        sign_in(tab, base, c_phone)
        tab.goto(f"{base}/lessons/{LESSON}#challenge")
        tab.route(SUBMISSIONS, lambda route: route.abort("internetdisconnected"))
        tab.locator("#challenge-text").fill(WORDS)
        tab.get_by_role("button", name="Gửi bài để chấm").first.click()
        message = tab.locator("#challenge .form-msg")
        message.wait_for(state="visible")
        assert "sẽ tự gửi khi có mạng" in message.inner_text()

        # D signs in on the same browser (a form post: no page script runs meanwhile)
        login = context.request.get(base + "/login").text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
        res = context.request.post(
            base + "/login",
            form={
                "identifier": d_phone,
                "password": factories.PASSWORD,
                "next": "/",
                "csrf_token": token,
            },
            max_redirects=0,
        )
        assert res.status == 303
        assert len(tab.evaluate(DRAFTS)) == 1  # still there: no page of ours has run

        tab.unroute(SUBMISSIONS)
        tab.evaluate("window.dispatchEvent(new Event('online'))")
        tab.locator("#challenge .form-msg.error").wait_for()  # refused, whichever check
        tab.locator("#challenge").screenshot(path=str(artifacts / "drafts-other-account.png"))
        assert sent(engine, text=WORDS) == [] and sent(engine, user_id=d_id) == []

        tab.reload()  # now D's page
        assert tab.evaluate(DRAFTS) == {}
        assert tab.locator("#challenge-text").input_value() == ""
        tab.wait_for_timeout(1500)
        assert sent(engine, text=WORDS) == [] and sent(engine, user_id=d_id) == []


def test_deleting_the_account_clears_its_drafts(site, artifacts):
    base, _engine, accounts = site
    _c_id, c_phone = accounts["c"]
    with phone_browser() as context:
        page = context.new_page()
        sign_in(page, base, c_phone)
        page.goto(f"{base}/lessons/{LESSON}#challenge")
        page.locator("#challenge-text").fill(WORDS)  # a draft, kept as it is typed
        assert len(page.evaluate(DRAFTS)) == 1
        page.goto(base + "/account/data")
        page.get_by_label("Mật khẩu hiện tại (để xác nhận)").fill(factories.PASSWORD)
        page.get_by_label("Tôi hiểu việc xoá không thể hoàn tác.").check()
        page.get_by_role("button", name="Xoá thông tin của tôi").click()
        page.get_by_role("heading", name="Đã xoá thông tin của bạn").wait_for()
        assert page.evaluate(DRAFTS) == {}
        shot(page, artifacts, "account-deleted")
