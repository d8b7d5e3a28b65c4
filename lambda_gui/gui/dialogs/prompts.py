"""Small questions asked without blocking the event loop."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from lambda_gui.gui.async_slots import exec_dialog


def question_box(
    parent: QWidget | None, title: str, text: str, yes_label: str, no_label: str
) -> QMessageBox:
    """A Yes/No question box with the buttons named for what they do (No is the default)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(title)
    box.setText(text)
    yes = box.addButton(yes_label, QMessageBox.ButtonRole.YesRole)
    no = box.addButton(no_label, QMessageBox.ButtonRole.NoRole)
    box.setDefaultButton(no)
    box.setEscapeButton(no)
    yes.setObjectName("yes")
    no.setObjectName("no")
    return box


def choice_box(
    parent: QWidget | None,
    title: str,
    text: str,
    choices: list[tuple[str, str, QMessageBox.ButtonRole]],
) -> QMessageBox:
    """A question box with named buttons; the last choice is the default and Escape."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(title)
    box.setText(text)
    for name, label, role in choices:
        button = box.addButton(label, role)
        button.setObjectName(name)
        box.setDefaultButton(button)
        box.setEscapeButton(button)
    return box


async def choose(box: QMessageBox) -> str | None:
    """Show a choice box; the object name of the button clicked."""
    await exec_dialog(box)
    clicked = box.clickedButton()
    return clicked.objectName() if clicked is not None else None


async def ask(box: QMessageBox) -> bool:
    """Show a question box; True when its Yes button was clicked."""
    await exec_dialog(box)
    clicked = box.clickedButton()
    return clicked is not None and clicked.objectName() == "yes"
